package models

// CheckAnswer is the producer's answer to a check-back.
type CheckAnswer string

// The three check-back outcomes. Only an explicit COMMITTED confirms and only an
// explicit ROLLED_BACK cancels; every other outcome is CheckUnknown: ask again.
const (
	CheckCommitted  CheckAnswer = "COMMITTED"
	CheckRolledBack CheckAnswer = "ROLLED_BACK"
	CheckUnknown    CheckAnswer = "UNKNOWN"
)
