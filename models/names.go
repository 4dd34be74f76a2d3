package models

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/courier-mq/courier/client/wire"
)

// CheckID: 1-128 of [A-Za-z0-9._:-]. "." and ".." are refused because URL
// paths cannot carry them as a segment.
func CheckID(id string) error {
	if len(id) == 0 || len(id) > wire.MaxIDLen || !NameChars(id, "._:-") || id == "." || id == ".." {
		return fmt.Errorf("id %.64q must be 1-%d characters of [A-Za-z0-9._:-], not \".\" or \"..\"", id, wire.MaxIDLen)
	}
	return nil
}

// CheckTopic applies Kafka's topic name rules: 1-249 of [a-zA-Z0-9._-], not
// "." or "..".
func CheckTopic(topic string) error {
	if len(topic) == 0 || len(topic) > wire.MaxTopicLen || !NameChars(topic, "._-") || topic == "." || topic == ".." {
		return fmt.Errorf("topic %.64q must be 1-%d characters of [a-zA-Z0-9._-], not \".\" or \"..\"", topic, wire.MaxTopicLen)
	}
	return nil
}

// CheckProducer: 1-128 of [A-Za-z0-9._:-], like an id.
func CheckProducer(p string) error {
	if len(p) == 0 || len(p) > wire.MaxProducerLen || !NameChars(p, "._:-") {
		return fmt.Errorf("producer %.64q must be 1-%d characters of [A-Za-z0-9._:-]", p, wire.MaxProducerLen)
	}
	return nil
}

// CheckKey: at most wire.MaxKeyLen characters of valid UTF-8 (a key that
// came through JSON always is; one in a query string may not be).
func CheckKey(key string) error {
	if !utf8.ValidString(key) {
		return errors.New("key is not valid UTF-8")
	}
	if utf8.RuneCountInString(key) > wire.MaxKeyLen {
		return fmt.Errorf("key is longer than %d characters", wire.MaxKeyLen)
	}
	return nil
}

// CheckConsumer: 1-64 of [A-Za-z0-9._-], a Kafka consumer group's usual name.
func CheckConsumer(c string) error {
	if len(c) == 0 || len(c) > wire.MaxConsumerLen || !NameChars(c, "._-") {
		return fmt.Errorf("consumer %.64q must be 1-%d characters of [A-Za-z0-9._-]", c, wire.MaxConsumerLen)
	}
	return nil
}

// NameChars reports whether s is made only of ASCII letters, digits and the
// bytes in extra: the alphabet of every name Courier accepts.
func NameChars(s, extra string) bool {
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
