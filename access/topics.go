package access

import (
	"fmt"
	"strings"

	"github.com/courier-mq/courier/models"
)

// everyTopic is the grant of every topic.
const everyTopic = "*"

// topics are a key's topic grants, parsed.
type topics struct {
	every    bool
	exact    []string
	prefixes []string // "orders." for "orders.*"
}

// parseTopics checks and parses grants: exact topic names, "prefix.*", or
// "*" alone.
func parseTopics(grants []string) (topics, error) {
	var t topics
	for _, g := range grants {
		switch {
		case g == everyTopic:
			if len(grants) > 1 {
				return topics{}, fmt.Errorf("topic grant * covers every topic: give it alone")
			}
			t.every = true
		case strings.HasSuffix(g, ".*"):
			prefix := strings.TrimSuffix(g, "*")
			if err := models.CheckTopic(strings.TrimSuffix(prefix, ".")); err != nil || strings.Contains(prefix[:len(prefix)-1], "*") {
				return topics{}, fmt.Errorf("topic grant %.64q: want a topic name, prefix.* or *", g)
			}
			t.prefixes = append(t.prefixes, prefix)
		default:
			if err := models.CheckTopic(g); err != nil {
				return topics{}, fmt.Errorf("topic grant %.64q: want a topic name, prefix.* or *", g)
			}
			t.exact = append(t.exact, g)
		}
	}
	return t, nil
}

// allow reports whether topic is granted.
func (t topics) allow(topic string) bool {
	if t.every {
		return true
	}
	for _, e := range t.exact {
		if e == topic {
			return true
		}
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(topic, p) && len(topic) > len(p) {
			return true
		}
	}
	return false
}
