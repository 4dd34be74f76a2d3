package wire

// Limits the gateway enforces on a message's fields: bytes of ASCII names
// and values, characters (as OpenAPI's maxLength counts) of the key and a
// reason. The widths follow the mirror table's columns, so a message that
// passes can always be stored; a client may check them before sending.
const (
	// MaxIDLen: an id is 1-128 of [A-Za-z0-9._:-], not "." or "..".
	MaxIDLen = 128
	// MaxTopicLen: a topic is 1-249 of [a-zA-Z0-9._-] (Kafka's own rule).
	MaxTopicLen = 249
	// MaxProducerLen: a producer is 1-128 of [A-Za-z0-9._:-].
	MaxProducerLen = 128
	// MaxConsumerLen: a consumer is 1-64 of [A-Za-z0-9._-].
	MaxConsumerLen = 64
	// MaxKeyLen bounds the Kafka record key, in characters.
	MaxKeyLen = 1024
	// MaxCheckURLLen bounds check_url.
	MaxCheckURLLen = 2048
	// MaxHeaders bounds how many headers a producer adds.
	MaxHeaders = 64
	// MaxHeaderNameLen bounds a header's name (printable ASCII, no spaces).
	MaxHeaderNameLen = 256
	// MaxHeaderValueLen bounds a header's value, in bytes.
	MaxHeaderValueLen = 4 << 10
	// MaxConsumers bounds the named consumers of one message.
	MaxConsumers = 32
	// MaxReasonLen bounds the reason of a confirm, cancel or redrive, in
	// characters.
	MaxReasonLen = 1024
)
