package models

// Limits of the mirror's columns that are no part of the wire contract; the
// limits of a message's fields and of an operator's reason are
// github.com/courier-mq/courier/client/wire's. Each is the width of the
// column that stores the field, so a value the gateway accepts can always be
// mirrored: one the mirror refused would make the mirror activity retry
// forever. The columns are released migrations, which are never edited, so a
// limit changes only with a new migration that changes its column; store's
// TestColumnsHoldTheirLimits fails until both agree, on every database.
const (
	// MaxLastErrorLen is not checked but enforced: the store cuts a longer
	// error text, which comes from a broker or a producer and may be anything.
	MaxLastErrorLen = 2048
	// MaxStatusLen bounds a Status and an Action, which are Courier's own.
	MaxStatusLen = 32
)
