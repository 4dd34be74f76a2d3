package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// maxSmallBody bounds the bodies of every request but prepare and send.
const maxSmallBody = 64 << 10

// readBody reads at most limit bytes of r. A longer body is a 413 and is not
// read further, so a client cannot make the gateway buffer more than limit.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, invalid("read request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge("request body is larger than %d bytes", limit)
	}
	return body, nil
}

// requestBody reads the body of req, bounded by limit, after checking that a
// non-empty body is declared as JSON: browsers can send text/plain across
// origins without a preflight, application/json they cannot.
func requestBody(req *http.Request, limit int64) ([]byte, error) {
	body, err := readBody(req.Body, limit)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	ct := req.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, newError(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "Content-Type must be application/json, got %q", clip(ct))
	}
	return body, nil
}

// decodeStrict decodes exactly one JSON object from body into v: unknown
// fields, trailing data, values of the wrong type and text that consumers
// would read differently (checkJSONText) are 400 invalid_json.
// An empty body is an error unless optional is set, when v is left alone.
func decodeStrict(body []byte, v any, optional bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return invalidJSON("request body is empty, want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidJSON("request body has data after the JSON object")
	}
	return checkJSONText(body)
}

// jsonError explains a decoding failure in the request's terms rather than Go's.
func jsonError(err error) *apiError {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalidJSON("malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalidJSON("request body must be a JSON object, got %s", typ.Value)
		}
		return invalidJSON("field %s must be %s, got %s", typ.Field, jsonKind(typ.Type), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidJSON("malformed JSON: unexpected end of input")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return invalidJSON("%s", clip(msg))
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return fmt.Sprintf("a JSON value for %s", t)
}

// joinLines renders an errors.Join of problems on one line.
func joinLines(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
