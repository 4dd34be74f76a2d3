package gateway

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/courier-mq/courier/models"
)

// maxJSONDepth bounds how deeply a request body's arrays and objects nest.
// A JSON payload sits one level down, so it may nest maxJSONDepth-1 = 100
// levels: Ruby's JSON parser refuses more by default, Rust's serde_json at
// about 128, Jackson and Python at about 1000. Courier refuses what the
// strictest common consumer would, instead of publishing a record that
// consumer can never read.
const maxJSONDepth = 101

// payloadBase64Hint tells the caller how to send what JSON cannot carry.
const payloadBase64Hint = "send a payload that is not UTF-8 JSON text as payload_base64"

// checkJSONText checks that body, which encoding/json has already accepted
// as well-formed JSON, is text every common JSON parser reads the same way,
// so that what Courier publishes, mirrors and shows is what the caller sent
// and what every consumer reads. encoding/json alone lets through, and then
// silently changes or keeps byte for byte, each of these:
//   - bytes that are not UTF-8 (RFC 8259 requires UTF-8): Go turns them into
//     U+FFFD in a field and keeps them in a raw payload, which then reaches
//     Kafka as invalid JSON;
//   - a \u escape of a lone UTF-16 surrogate, which is no character: Go reads
//     U+FFFD, serde_json refuses it, Python keeps a string it cannot encode;
//   - an object that names a member twice: parsers disagree on which wins;
//   - nesting deeper than maxJSONDepth;
//   - a number beyond the range of a 64-bit float (1e400): Go and serde_json
//     refuse it, JavaScript and Java read Infinity.
//
// The error names the place in the body (payload.items[3]) and says what to
// do instead.
func checkJSONText(body []byte) error {
	s := textScanner{b: body}
	return s.value(0)
}

// textScanner walks one well-formed JSON value, keeping the path to where it
// is for error messages.
type textScanner struct {
	b    []byte
	pos  int
	path []step
}

// step is one step of a path: an object member's name, or an array index
// when name is empty and index is not negative.
type step struct {
	name  string
	index int
}

func (s *textScanner) value(depth int) error {
	s.skipSpace()
	switch c := s.b[s.pos]; {
	case c == '{' || c == '[':
		if depth == maxJSONDepth {
			return s.fail("nests arrays and objects deeper than %d levels, more than common JSON parsers read (Ruby's refuses more than 100); flatten it, or %s", maxJSONDepth-1, payloadBase64Hint)
		}
		if c == '{' {
			return s.object(depth + 1)
		}
		return s.array(depth + 1)
	case c == '"':
		_, err := s.str(false)
		return err
	case c == 't' || c == 'n':
		s.pos += 4
	case c == 'f':
		s.pos += 5
	default:
		return s.number()
	}
	return nil
}

func (s *textScanner) object(depth int) error {
	s.pos++ // {
	seen := map[string]bool{}
	for {
		s.skipSpace()
		if s.b[s.pos] == '}' {
			s.pos++
			return nil
		}
		name, err := s.str(true)
		if err != nil {
			return err
		}
		if seen[name] {
			return s.fail("names %s twice, and JSON parsers disagree on which value wins; give each name once", strconv.Quote(name))
		}
		seen[name] = true
		s.skipSpace()
		s.pos++ // :
		if err := s.element(step{name: name, index: -1}, depth); err != nil {
			return err
		}
	}
}

func (s *textScanner) array(depth int) error {
	s.pos++ // [
	for i := 0; ; i++ {
		s.skipSpace()
		if s.b[s.pos] == ']' {
			s.pos++
			return nil
		}
		if err := s.element(step{index: i}, depth); err != nil {
			return err
		}
	}
}

// element checks the member or item at s.pos, one step down the path, and
// moves past the comma after it.
func (s *textScanner) element(st step, depth int) error {
	s.path = append(s.path, st)
	if err := s.value(depth); err != nil {
		return err
	}
	s.path = s.path[:len(s.path)-1]
	s.skipSpace()
	if s.b[s.pos] == ',' {
		s.pos++
	}
	return nil
}

// str checks the string at s.pos and, with decode, returns its value.
func (s *textScanner) str(decode bool) (string, error) {
	start := s.pos
	s.pos++ // "
	var out strings.Builder
	for {
		c := s.b[s.pos]
		switch {
		case c == '"':
			s.pos++
			return out.String(), nil
		case c == '\\' && s.b[s.pos+1] == 'u':
			r := s.hex4(s.pos + 2)
			s.pos += 6
			if utf16.IsSurrogate(r) {
				var low rune = -1
				if s.pos+6 <= len(s.b) && s.b[s.pos] == '\\' && s.b[s.pos+1] == 'u' {
					low = s.hex4(s.pos + 2)
				}
				pair := utf16.DecodeRune(r, low)
				if pair == utf8.RuneError {
					return "", s.failAt(s.pos-6, "has the escape \\u%04x, half of a UTF-16 surrogate pair without its other half: it is no character, and consumers refuse it or read U+FFFD; %s", r, payloadBase64Hint)
				}
				s.pos += 6
				r = pair
			}
			if decode {
				out.WriteRune(r)
			}
		case c == '\\':
			if decode {
				out.WriteByte(unescape(s.b[s.pos+1]))
			}
			s.pos += 2
		case c < utf8.RuneSelf:
			if decode {
				out.WriteByte(c)
			}
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.b[s.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", s.failAt(s.pos, "has bytes that are not UTF-8 in the string starting at byte %d; JSON text must be UTF-8: %s", start, payloadBase64Hint)
			}
			if decode {
				out.WriteRune(r)
			}
			s.pos += size
		}
	}
}

// number checks that the number at s.pos fits a 64-bit float.
func (s *textScanner) number() error {
	start := s.pos
	for s.pos < len(s.b) && strings.IndexByte("+-0123456789.eE", s.b[s.pos]) >= 0 {
		s.pos++
	}
	text := string(s.b[start:s.pos])
	if f, err := strconv.ParseFloat(text, 64); errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0) {
		return s.failAt(start, "has the number %s, beyond the range of a 64-bit float, which Go and Rust consumers cannot read and JavaScript reads as Infinity; send it as a string", clip(text))
	}
	return nil
}

func (s *textScanner) hex4(at int) rune {
	v, _ := strconv.ParseUint(string(s.b[at:at+4]), 16, 32) // well-formed JSON: four hex digits
	return rune(v)
}

func (s *textScanner) skipSpace() {
	for s.pos < len(s.b) && (s.b[s.pos] == ' ' || s.b[s.pos] == '\t' || s.b[s.pos] == '\n' || s.b[s.pos] == '\r') {
		s.pos++
	}
}

// fail reports a problem with the value at the current path.
func (s *textScanner) fail(format string, args ...any) error {
	return invalidJSON("%s %s", s.where(), fmt.Sprintf(format, args...))
}

// failAt reports a problem at byte offset at.
func (s *textScanner) failAt(at int, format string, args ...any) error {
	return invalidJSON("%s at byte %d %s", s.where(), at, fmt.Sprintf(format, args...))
}

// where names the current path: "payload.items[3]", or "the request body".
func (s *textScanner) where() string {
	if len(s.path) == 0 {
		return "the request body"
	}
	var b strings.Builder
	for _, st := range s.path {
		switch {
		case st.index >= 0:
			b.WriteString("[" + strconv.Itoa(st.index) + "]")
		case st.name != "" && models.NameChars(st.name, "_"):
			b.WriteString("." + st.name)
		default:
			b.WriteString("[" + strconv.Quote(st.name) + "]")
		}
	}
	p := strings.TrimPrefix(b.String(), ".")
	const keep = 60 // bytes of each end of a longer path
	if len(p) <= 2*keep {
		return p
	}
	head, tail := keep, len(p)-keep
	for !utf8.RuneStart(p[head]) {
		head--
	}
	for !utf8.RuneStart(p[tail]) {
		tail++
	}
	return p[:head] + "…" + p[tail:]
}

// unescape is the byte a two-character JSON escape other than \u stands for.
func unescape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // \" \\ \/
}
