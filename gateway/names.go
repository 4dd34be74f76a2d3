package gateway

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/courier-mq/courier/client/wire"
)

// checkHeaderName: printable ASCII without spaces, and not Courier's own prefix.
func checkHeaderName(name string) error {
	if len(name) == 0 || len(name) > wire.MaxHeaderNameLen {
		return fmt.Errorf("header name %q must be 1-%d characters", clip(name), wire.MaxHeaderNameLen)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7e {
			return fmt.Errorf("header name %q must be printable ASCII without spaces", clip(name))
		}
	}
	if strings.HasPrefix(strings.ToLower(name), wire.ReservedHeaderPrefix) {
		return fmt.Errorf("header name %q uses the reserved prefix %q", clip(name), wire.ReservedHeaderPrefix)
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
