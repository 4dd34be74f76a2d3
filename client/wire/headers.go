package wire

// Kafka record headers Courier adds next to the producer's own. Consumers
// dedupe by HeaderMessageID; HeaderAttempt tells a resend (2, 3, ...) from
// the first send; HeaderProducer names the producer whose key prepared the
// message, when it has a name.
const (
	HeaderMessageID = "courier-message-id"
	HeaderAttempt   = "courier-attempt"
	HeaderProducer  = "courier-producer"
)

// Headers lists Courier's record headers.
var Headers = []string{HeaderMessageID, HeaderAttempt, HeaderProducer}

// ReservedHeaderPrefix starts every header Courier writes itself; a
// producer's own headers may not start with it, in any case.
const ReservedHeaderPrefix = "courier-"
