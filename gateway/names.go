package gateway

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on the fields of a message besides its names (models.CheckID and
// the others). The widths follow the mirror table's columns, so a message
// that passes here can always be written there; a value the mirror refused
// would make the mirror activity retry forever.
const (
	maxKeyLen         = 1024
	maxCheckURLLen    = 2048
	maxHeaders        = 64
	maxHeaderNameLen  = 256
	maxHeaderValueLen = 4 << 10
	maxConsumers      = 32
)

// reservedHeaderPrefix starts the Kafka headers Courier writes itself
// (activities.HeaderMessageID, activities.HeaderAttempt).
const reservedHeaderPrefix = "courier-"

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
