package models

// Limits of a message's fields and of an operator action, in characters. Each
// is the width of the mirror column that stores the field, so a value the
// gateway accepts can always be mirrored: one the mirror refused would make
// the mirror activity retry forever. The columns are released migrations,
// which are never edited, so a limit changes only with a new migration that
// changes its column; store's TestColumnsHoldTheirLimits fails until both
// agree, on every database.
const (
	MaxIDLen       = 128
	MaxTopicLen    = 249 // Kafka's own limit
	MaxKeyLen      = 1024
	MaxProducerLen = 128
	MaxCheckURLLen = 2048
	// MaxLastErrorLen is not checked but enforced: the store cuts a longer
	// error text, which comes from a broker or a producer and may be anything.
	MaxLastErrorLen = 2048
	// MaxStatusLen bounds a Status and an Action, which are Courier's own.
	MaxStatusLen = 32
	// MaxConsumerLen also bounds an API key's name, which the audit log
	// records as the operator.
	MaxConsumerLen = 64
	MaxReasonLen   = 1024
)
