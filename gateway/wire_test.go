package gateway

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// The wire contract is declared in client/wire for Go, in openapi.yaml for
// everyone else, and again by hand in the Python and TypeScript clients and
// in the server's own names. These tests tie every copy to client/wire, so
// that adding a status, a field, a header or a limit in one place and
// forgetting another fails here.

// wireSchemas maps each object schema of openapi.yaml to its Go type.
var wireSchemas = map[string]any{
	"PrepareRequest":    wire.PrepareRequest{},
	"Policy":            wire.Policy{},
	"PrepareResponse":   wire.PrepareResponse{},
	"DecisionRequest":   wire.DecisionRequest{},
	"CompletionRequest": wire.CompletionRequest{},
	"SignalResponse":    wire.SignalResponse{},
	"RedriveRequest":    wire.RedriveRequest{},
	"RedriveResponse":   wire.RedriveResponse{},
	"Error":             wire.Error{},
	"Message":           wire.Message{},
	"MessageList":       wire.MessageList{},
	"Stats":             wire.Stats{},
}

// notWire are object schemas no client reads or writes.
var notWire = []string{"Health"}

type schema = map[string]any

func openAPISchemas(t *testing.T) schema {
	t.Helper()
	var doc schema
	require.NoError(t, yaml.Unmarshal(openAPI, &doc))
	return doc["components"].(schema)["schemas"].(schema)
}

// resolve follows a $ref, or an allOf of one $ref, to its schema.
func resolve(schemas, s schema) schema {
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
		s = all[0].(schema)
	}
	if ref, ok := s["$ref"].(string); ok {
		return schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(schema)
	}
	return s
}

func strs(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

func TestWireStatusesEverywhere(t *testing.T) {
	t.Parallel()
	want := make([]string, len(wire.Statuses))
	for i, s := range wire.Statuses {
		want[i] = string(s)
	}
	require.Equal(t, want, strs(openAPISchemas(t)["Status"].(schema)["enum"]), "openapi.yaml Status")
	var server []string
	for _, s := range wire.Statuses {
		server = append(server, string(s))
	}
	require.Equal(t, want, server, "wire.Statuses")
	require.Equal(t, want, pythonEnum(t, "messages.py", "Status"), "Python Status")
	require.Equal(t, want, typescriptUnion(t, "client.ts", "Status"), "TypeScript Status")
}

func TestWireOutcomesEverywhere(t *testing.T) {
	t.Parallel()
	var answered, recorded []string // an answer never carries Rejected
	for _, o := range wire.Outcomes {
		recorded = append(recorded, string(o))
		if o != wire.Rejected {
			answered = append(answered, string(o))
		}
	}
	schemas := openAPISchemas(t)
	props := func(name string) schema { return schemas[name].(schema)["properties"].(schema) }
	require.ElementsMatch(t, answered, strs(props("SignalResponse")["outcome"].(schema)["enum"]), "openapi.yaml SignalResponse.outcome")
	signal := props("Message")["signals"].(schema)["items"].(schema)["properties"].(schema)
	require.ElementsMatch(t, recorded, strs(signal["outcome"].(schema)["enum"]), "openapi.yaml Message.signals[].outcome")
	require.ElementsMatch(t, answered, pythonEnum(t, "messages.py", "Outcome"), "Python Outcome")
	require.ElementsMatch(t, answered, typescriptUnion(t, "client.ts", "Outcome"), "TypeScript Outcome")
}

func TestWireHeadersEverywhere(t *testing.T) {
	t.Parallel()
	byName := map[string]string{
		"MESSAGE_ID": wire.HeaderMessageID,
		"ATTEMPT":    wire.HeaderAttempt,
		"PRODUCER":   wire.HeaderProducer,
	}
	require.Len(t, wire.Headers, len(byName))
	for _, h := range wire.Headers {
		require.True(t, strings.HasPrefix(h, wire.ReservedHeaderPrefix), "%s must be reserved from producers", h)
	}
	// Each client declares the headers its consumer reads, at least these.
	read := []string{"MESSAGE_ID", "ATTEMPT"}
	for _, c := range []struct {
		file string
		decl *regexp.Regexp
	}{
		{"../clients/python/courier_client/consumer.py", regexp.MustCompile(`(?m)^HEADER_(\w+) = (.*)$`)},
		{"../clients/typescript/src/consumer.ts", regexp.MustCompile(`(?m)^export const HEADER_(\w+) = (.*);$`)},
	} {
		src := readFile(t, c.file)
		found := map[string]bool{}
		for _, m := range c.decl.FindAllStringSubmatch(src, -1) {
			want, ok := byName[m[1]]
			require.True(t, ok, "%s declares HEADER_%s, which Courier does not set", c.file, m[1])
			got := unquote(t, m[2])
			require.Equal(t, want, got, "%s HEADER_%s", c.file, m[1])
			found[m[1]] = true
		}
		for _, name := range read {
			require.True(t, found[name], "%s does not declare HEADER_%s", c.file, name)
		}
	}
}

// TestWireSchemas holds every object schema of openapi.yaml to its wire
// type: the same property names, required exactly when the Go field is not
// omitempty, nested objects alike.
func TestWireSchemas(t *testing.T) {
	t.Parallel()
	schemas := openAPISchemas(t)
	for name, s := range schemas {
		if s.(schema)["type"] != "object" || slices.Contains(notWire, name) {
			continue
		}
		_, ok := wireSchemas[name]
		require.True(t, ok, "openapi.yaml schema %s has no wire type in wireSchemas", name)
	}
	for name, v := range wireSchemas {
		s, ok := schemas[name].(schema)
		require.True(t, ok, "wire type for %s has no openapi.yaml schema", name)
		compareSchema(t, schemas, name, s, reflect.TypeOf(v))
	}
}

// compareSchema compares an object schema with the struct type typ.
func compareSchema(t *testing.T, schemas schema, path string, s schema, typ reflect.Type) {
	t.Helper()
	props, _ := s["properties"].(schema)
	var required []string
	if r, ok := s["required"]; ok {
		required = strs(r)
	}
	fields := jsonFields(typ)
	var propNames, fieldNames, omitted []string
	for name := range props {
		propNames = append(propNames, name)
	}
	for name, f := range fields {
		fieldNames = append(fieldNames, name)
		if !f.omitempty {
			omitted = append(omitted, name)
		}
	}
	require.ElementsMatch(t, propNames, fieldNames, "%s: openapi.yaml properties (first) against the wire type's JSON fields", path)
	require.ElementsMatch(t, required, omitted, "%s: openapi.yaml required (first) against the wire type's fields without omitempty", path)
	for name, p := range props {
		p := resolve(schemas, p.(schema))
		ft := fields[name].typ
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if p["type"] == "array" {
			p = resolve(schemas, p["items"].(schema))
			ft = ft.Elem()
		}
		if _, nested := p["properties"]; nested && ft.Kind() == reflect.Struct {
			compareSchema(t, schemas, path+"."+name, p, ft)
		}
	}
}

type jsonField struct {
	typ       reflect.Type
	omitempty bool
}

// jsonFields are the JSON members of struct typ, embedded structs' included.
func jsonFields(typ reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{f.Type, slices.Contains(strings.Split(opts, ","), "omitempty")}
	}
	return out
}

// TestWireLimits holds every maxLength, maxItems, maxProperties and
// length-bounded pattern of openapi.yaml, and the server's own constants,
// to the limits in wire.
func TestWireLimits(t *testing.T) {
	t.Parallel()
	want := map[string]int{
		"ID.pattern":                                    wire.MaxIDLen,
		"Topic.pattern":                                 wire.MaxTopicLen,
		"Producer.pattern":                              wire.MaxProducerLen,
		"Consumer.pattern":                              wire.MaxConsumerLen,
		"PrepareRequest.key.maxLength":                  wire.MaxKeyLen,
		"PrepareRequest.check_url.maxLength":            wire.MaxCheckURLLen,
		"PrepareRequest.headers.maxProperties":          wire.MaxHeaders,
		"PrepareRequest.headers.*.maxLength":            wire.MaxHeaderValueLen,
		"PrepareRequest.consumers.maxItems":             wire.MaxConsumers,
		"DecisionRequest.reason.maxLength":              wire.MaxReasonLen,
		"RedriveRequest.reason.maxLength":               wire.MaxReasonLen,
		"Policy.resend_intervals.maxItems":              wire.MaxResendIntervals,
		"PrepareRequest.headers.description.characters": wire.MaxHeaderNameLen,
	}
	got := map[string]int{}
	bounded := regexp.MustCompile(`\{1,(\d+)\}\$$`)
	var walk func(path string, s schema)
	walk = func(path string, s schema) {
		for _, k := range []string{"maxLength", "maxItems", "maxProperties"} {
			if n, ok := s[k].(int); ok {
				got[path+"."+k] = n
			}
		}
		if p, ok := s["pattern"].(string); ok {
			m := bounded.FindStringSubmatch(p)
			require.NotNil(t, m, "%s.pattern %q has no {1,n} bound", path, p)
			got[path+".pattern"], _ = strconv.Atoi(m[1])
		}
		for name, p := range mapOf(s["properties"]) {
			walk(path+"."+name, p.(schema))
		}
		if items, ok := s["items"].(schema); ok {
			walk(path+"[]", items)
		}
		if add, ok := s["additionalProperties"].(schema); ok {
			walk(path+".*", add)
		}
	}
	schemas := openAPISchemas(t)
	for name, s := range schemas {
		walk(name, s.(schema))
	}
	// The header name limit is only in prose: "up to N characters".
	desc := schemas["PrepareRequest"].(schema)["properties"].(schema)["headers"].(schema)["description"].(string)
	if m := regexp.MustCompile(`up to (\d+) characters`).FindStringSubmatch(desc); m != nil {
		got["PrepareRequest.headers.description.characters"], _ = strconv.Atoi(m[1])
	}
	require.Equal(t, want, got, "openapi.yaml limits (second) against wire's (first)")
}

// TestOneMessageView: GET /v1/messages/{id} and ?live=1 answer one schema
// in one vocabulary. The live view shows every member of the workflow's
// State under the plain view's names (its message_id is the id), and keeps
// every member of the plain view: what the workflow knows is taken from it,
// the rest (key, payload, producer, ...) from the mirror row. A field added
// to the workflow's State is a decision to show it or not, not a silent
// change of the API.
func TestOneMessageView(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	earlier := at.Add(-time.Hour)
	st := contract.State{
		MessageID: "m", Topic: "t", Status: wire.StatusDelivered, Revision: 7, CheckCount: 2, SendCount: 3,
		Consumers: []string{"a", "b"}, CompletedBy: []string{"a"},
		EarlyCompletions: []contract.EarlyCompletion{{Consumer: "b", At: at}},
		LastError:        "e", NextAt: &at, CreatedAt: at, DeliverAt: &at, ConfirmedAt: &at, PublishedAt: &at, CompletedAt: &at,
		Checks:         []contract.CheckRecord{{Attempt: 1, At: at, Answer: models.CheckCommitted, Detail: "d"}},
		Publishes:      []contract.PublishRecord{{Attempt: 1, At: at, Partition: 2, Offset: 3, Error: "x"}},
		Signals:        []contract.SignalRecord{{Name: "complete", At: at, Outcome: wire.Accepted, By: "c", Consumer: "b", Reason: "r"}},
		SignalsDropped: 4,
		TraceID:        "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	requireAllSet(t, reflect.ValueOf(st), "contract.State")
	// The mirror is behind the workflow.
	row := models.Message{
		ID: "m", Topic: "t", Key: "k", Payload: []byte(`{"a":1}`), Headers: map[string]string{"h": "v"}, Producer: "p",
		CheckURL: "http://c/", Consumers: []string{"a", "b"}, DeliverAt: &at, Status: wire.StatusSending, CheckCount: 2, SendCount: 1,
		LastError: "old", CreatedAt: at, ConfirmedAt: &at, UpdatedAt: earlier, StatusAt: earlier, Revision: 5,
	}
	asMap := func(v any) map[string]any {
		data, err := json.Marshal(v)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m))
		return m
	}
	plain := asMap(viewRow(&row, true))
	live := asMap(viewLive(st, &row))
	workflow := asMap(st)
	workflow["id"] = workflow["message_id"]
	delete(workflow, "message_id")

	require.NotContains(t, live, "message_id", "the live view names the id as the plain view does")
	for name, v := range workflow {
		require.Equal(t, v, live[name], "live %s is the workflow's", name)
	}
	for name, v := range plain {
		switch {
		case name == "updated_at", name == "status_at":
			require.NotContains(t, live, name, "the live view was not written by the mirror")
		case name == "source":
			require.Equal(t, wire.SourceMirror, v)
			require.Equal(t, wire.SourceWorkflow, live[name])
		case workflow[name] == nil:
			require.Equal(t, v, live[name], "live %s is the mirror's", name)
		}
	}
	// Every member of the live view is one of wire.Message's: one schema.
	fields := jsonFields(reflect.TypeOf(wire.Message{}))
	for name := range live {
		require.Contains(t, fields, name)
	}
	// Before the mirror has the row, the live view is the workflow's alone.
	alone := asMap(viewLive(st, nil))
	for name, v := range workflow {
		require.Equal(t, v, alone[name], "live %s is the workflow's", name)
	}
	require.NotContains(t, alone, "payload")
	require.NotContains(t, alone, "key")
}

// requireAllSet fails on a zero field, so that the test above covers every
// field of contract.State as it grows.
func requireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			require.False(t, v.IsZero(), "%s is not set", path)
			return
		}
		for i := range v.NumField() {
			requireAllSet(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		require.Positive(t, v.Len(), "%s is empty", path)
		requireAllSet(t, v.Index(0), path+"[0]")
	case reflect.Pointer:
		require.False(t, v.IsNil(), "%s is nil", path)
	default:
		require.False(t, v.IsZero(), "%s is not set", path)
	}
}

func mapOf(v any) schema {
	m, _ := v.(schema)
	return m
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// unquote reads a one-line string literal in single or double quotes.
func unquote(t *testing.T, lit string) string {
	t.Helper()
	m := regexp.MustCompile(`^(?:"([^"\\]*)"|'([^'\\]*)')$`).FindStringSubmatch(lit)
	require.NotNil(t, m, "%s is not a plain string literal", lit)
	return m[1] + m[2]
}

// pythonEnum reads the members of `class name(StrEnum):` in
// clients/python/courier_client/file, in order. Every member must be
// `NAME = "value"` with NAME the value in upper case.
func pythonEnum(t *testing.T, file, name string) []string {
	t.Helper()
	src := readFile(t, "../clients/python/courier_client/"+file)
	_, body, ok := strings.Cut(src, "\nclass "+name+"(StrEnum):\n")
	require.True(t, ok, "%s has no class %s(StrEnum)", file, name)
	member := regexp.MustCompile(`^    (\w+) = (.*)$`)
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, " ") {
			break // the class ends
		}
		m := member.FindStringSubmatch(line)
		if m == nil {
			continue // docstring or blank
		}
		v := unquote(t, m[2])
		require.Equal(t, strings.ToUpper(v), m[1], "%s %s.%s", file, name, m[1])
		out = append(out, v)
	}
	return out
}

// typescriptUnion reads `export type name = 'a' | 'b' ...;` in
// clients/typescript/src/file: nothing but single-quoted literals.
func typescriptUnion(t *testing.T, file, name string) []string {
	t.Helper()
	src := readFile(t, "../clients/typescript/src/"+file)
	_, decl, ok := strings.Cut(src, "\nexport type "+name+" =")
	require.True(t, ok, "%s has no export type %s", file, name)
	decl, _, ok = strings.Cut(decl, ";")
	require.True(t, ok)
	lit := regexp.MustCompile(`'([^'\\]*)'`)
	var out []string
	for _, m := range lit.FindAllStringSubmatch(decl, -1) {
		out = append(out, m[1])
	}
	rest := strings.NewReplacer("|", "", " ", "", "\n", "").Replace(lit.ReplaceAllString(decl, ""))
	require.Empty(t, rest, "%s type %s is not a union of string literals", file, name)
	return out
}
