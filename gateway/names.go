package gateway

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on the names and fields of a message. The widths follow the mirror
// table's columns (models/migrate.go), so a message that passes here can
// always be written there; a value the mirror refused would make the mirror
// activity retry forever.
const (
	maxIDLen          = 128
	maxTopicLen       = 249 // Kafka's own limit
	maxKeyLen         = 1024
	maxProducerLen    = 128
	maxCheckURLLen    = 2048
	maxHeaders        = 64
	maxHeaderNameLen  = 256
	maxHeaderValueLen = 4 << 10
	maxConsumers      = 32
	maxConsumerLen    = 64
	maxReasonLen      = 1024
)

// reservedHeaderPrefix starts the Kafka headers Courier writes itself
// (activities.HeaderMessageID, activities.HeaderAttempt).
const reservedHeaderPrefix = "courier-"

// nameChars reports whether s is made only of ASCII letters, digits and the
// bytes in extra.
func nameChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte(extra, b) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkID: 1-128 of [A-Za-z0-9._:-]. "." and ".." are refused because URL
// paths cannot carry them as a segment.
func checkID(id string) error {
	if len(id) == 0 || len(id) > maxIDLen || !nameChars(id, "._:-") || id == "." || id == ".." {
		return fmt.Errorf("id %q must be 1-%d characters of [A-Za-z0-9._:-], not \".\" or \"..\"", clip(id), maxIDLen)
	}
	return nil
}

// checkTopic applies Kafka's topic name rules: 1-249 of [a-zA-Z0-9._-], not
// "." or "..".
func checkTopic(topic string) error {
	if len(topic) == 0 || len(topic) > maxTopicLen || !nameChars(topic, "._-") || topic == "." || topic == ".." {
		return fmt.Errorf("topic %q must be 1-%d characters of [a-zA-Z0-9._-], not \".\" or \"..\"", clip(topic), maxTopicLen)
	}
	return nil
}

// checkProducer: 1-128 of [A-Za-z0-9._:-], like an id.
func checkProducer(p string) error {
	if len(p) == 0 || len(p) > maxProducerLen || !nameChars(p, "._:-") {
		return fmt.Errorf("producer %q must be 1-%d characters of [A-Za-z0-9._:-]", clip(p), maxProducerLen)
	}
	return nil
}

// checkConsumer: 1-64 of [A-Za-z0-9._-], a Kafka consumer group's usual name.
func checkConsumer(c string) error {
	if len(c) == 0 || len(c) > maxConsumerLen || !nameChars(c, "._-") {
		return fmt.Errorf("consumer %q must be 1-%d characters of [A-Za-z0-9._-]", clip(c), maxConsumerLen)
	}
	return nil
}

// checkHeaderName: printable ASCII without spaces, and not Courier's own prefix.
func checkHeaderName(name string) error {
	if len(name) == 0 || len(name) > maxHeaderNameLen {
		return fmt.Errorf("header name %q must be 1-%d characters", clip(name), maxHeaderNameLen)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7e {
			return fmt.Errorf("header name %q must be printable ASCII without spaces", clip(name))
		}
	}
	if strings.HasPrefix(strings.ToLower(name), reservedHeaderPrefix) {
		return fmt.Errorf("header name %q uses the reserved prefix %q", clip(name), reservedHeaderPrefix)
	}
	return nil
}

// clip shortens a rejected value for an error message, so that a 10 MB id does
// not come back in a 10 MB error.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
