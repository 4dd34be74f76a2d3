package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func testCheckURLAllowList(t *testing.T, e *env) {
	// The open gateway allows loopback only.
	refused := []string{
		"http://example.com/check",
		"http://10.0.0.1/check",
		"http://192.168.1.1:8080/check",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00::1]/check",
		"http://[::ffff:10.0.0.1]/check",
		"http://127.1/check",
		"http://2130706433/check",
		"http://0x7f000001/check",
		"http://localhost.attacker.example/check",
		"http://[fe80::1%25eth0]/check",
		"file:///etc/passwd",
		"gopher://127.0.0.1:70/",
		"ftp://127.0.0.1/check",
		"http://user:secret@127.0.0.1/check",
		"http://127.0.0.1@attacker.example/check",
		"//127.0.0.1/check",
		"/check",
		"http:///check",
		"http://127.0.0.1/check#fragment",
		"http://127.0.0.1:99999/check",
		"http://127.0.0.1/" + strings.Repeat("a", 2048),
	}
	for i, u := range refused {
		id := fmt.Sprintf("ssrf-refused-%d", i)
		body := e.message(id)
		body["check_url"] = u
		msg := requireError(t, e.open.post(t, "/v1/messages", body), http.StatusBadRequest, "invalid_request")
		require.Contains(t, msg, "check_url", u)
		// A direct send validates a given check URL too.
		requireError(t, e.open.post(t, "/v1/messages/send", body), http.StatusBadRequest, "invalid_request")
		e.open.requireAbsent(t, id)
	}
	allowed := []string{
		e.stack.Checks.URL,
		"http://127.0.0.1:8080/check?tx=1",
		"https://localhost/check",
		"http://LOCALHOST./check",
		"http://[::1]:9/check",
		"http://127.9.9.9/check",
	}
	for i, u := range allowed {
		body := e.message(fmt.Sprintf("ssrf-allowed-%d", i))
		body["check_url"] = u
		r := e.open.post(t, "/v1/messages", body)
		require.Equal(t, http.StatusCreated, r.Status, "%s: %s", u, r.Body)
	}
}

func testHostileInput(t *testing.T, e *env) {
	// valid is a prepare body for id with mutate applied.
	valid := func(id string, mutate func(m map[string]any)) string {
		m := e.message(id)
		mutate(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return string(b)
	}
	same := func(map[string]any) {}
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	headers := func(n int) map[string]string {
		h := map[string]string{}
		for i := range n {
			h[fmt.Sprintf("h%d", i)] = "v"
		}
		return h
	}
	// rawPayload is a prepare body for id whose payload is the JSON text
	// payload as given, bytes json.Marshal would have repaired included.
	rawPayload := func(id, payload string) string {
		return strings.Replace(valid(id, set("payload", "RAW-PAYLOAD")), `"RAW-PAYLOAD"`, payload, 1)
	}
	const big = 1<<20 + 1 // one byte over the default MaxPayloadBytes
	cases := []struct {
		name        string
		id          string // checked absent afterwards
		body        string
		contentType string
		status      int
		code        string
		path        string // default /v1/messages
	}{
		{name: "empty body", body: "", status: 400, code: "invalid_json"},
		{name: "malformed", id: "bad-1", body: `{"id":"bad-1","topic":`, status: 400, code: "invalid_json"},
		{name: "not an object", body: `["orders"]`, status: 400, code: "invalid_json"},
		{name: "unknown field", id: "bad-2", body: valid("bad-2", set("priority", 1)), status: 400, code: "invalid_json"},
		{name: "trailing data", id: "bad-3", body: valid("bad-3", same) + `{}`, status: 400, code: "invalid_json"},
		{name: "trailing garbage", id: "bad-4", body: valid("bad-4", same) + ` x`, status: 400, code: "invalid_json"},
		{name: "wrong type", id: "bad-5", body: valid("bad-5", set("topic", 5)), status: 400, code: "invalid_json"},
		{name: "wrong policy type", id: "bad-6", body: valid("bad-6", set("policy", map[string]any{"check_delay": 30})), status: 400, code: "invalid_json"},
		{name: "text/plain", id: "bad-7", body: valid("bad-7", same), contentType: "text/plain", status: 415, code: "unsupported_media_type"},
		{name: "form", id: "bad-8", body: "id=bad-8&topic=orders", contentType: "application/x-www-form-urlencoded", status: 415, code: "unsupported_media_type"},
		{name: "missing topic", id: "bad-9", body: valid("bad-9", del("topic")), status: 400, code: "invalid_request"},
		{name: "topic with slash", id: "bad-10", body: valid("bad-10", set("topic", "a/b")), status: 400, code: "invalid_request"},
		{name: "topic dot-dot", id: "bad-11", body: valid("bad-11", set("topic", "..")), status: 400, code: "invalid_request"},
		{name: "topic too long", id: "bad-12", body: valid("bad-12", set("topic", strings.Repeat("t", 250))), status: 400, code: "invalid_request"},
		{name: "id with space", body: valid("bad 13", same), status: 400, code: "invalid_request"},
		{name: "id too long", body: valid(strings.Repeat("i", 129), same), status: 400, code: "invalid_request"},
		{name: "id dot", body: valid(".", same), status: 400, code: "invalid_request"},
		{name: "both payloads", id: "bad-14", body: valid("bad-14", set("payload_base64", "AAEC")), status: 400, code: "invalid_request"},
		{name: "no payload", id: "bad-15", body: valid("bad-15", del("payload")), status: 400, code: "invalid_request"},
		{name: "null payload", id: "bad-16", body: valid("bad-16", set("payload", nil)), status: 400, code: "invalid_request"},
		{name: "invalid base64", id: "bad-17", body: valid("bad-17", func(m map[string]any) { delete(m, "payload"); m["payload_base64"] = "not base64!" }), status: 400, code: "invalid_request"},
		{name: "payload too large", id: "bad-18", body: valid("bad-18", set("payload", strings.Repeat("x", big))), status: 413, code: "payload_too_large"},
		{name: "base64 payload too large", id: "bad-19", body: valid("bad-19", func(m map[string]any) {
			delete(m, "payload")
			m["payload_base64"] = base64.StdEncoding.EncodeToString(make([]byte, big))
		}), status: 413, code: "payload_too_large"},
		{name: "body too large", id: "bad-20", body: `{"id":"bad-20","topic":"orders","key":"` + strings.Repeat("k", 3<<20) + `"}`, status: 413, code: "payload_too_large"},
		{name: "key too long", id: "bad-21", body: valid("bad-21", set("key", strings.Repeat("é", 1025))), status: 400, code: "invalid_request"},
		{name: "too many headers", id: "bad-22", body: valid("bad-22", set("headers", headers(65))), status: 400, code: "invalid_request"},
		{name: "header name with space", id: "bad-23", body: valid("bad-23", set("headers", map[string]string{"trace id": "x"})), status: 400, code: "invalid_request"},
		{name: "empty header name", id: "bad-24", body: valid("bad-24", set("headers", map[string]string{"": "x"})), status: 400, code: "invalid_request"},
		{name: "reserved header", id: "bad-25", body: valid("bad-25", set("headers", map[string]string{"Courier-Attempt": "9"})), status: 400, code: "invalid_request"},
		{name: "header value too long", id: "bad-26", body: valid("bad-26", set("headers", map[string]string{"h": strings.Repeat("v", 4097)})), status: 400, code: "invalid_request"},
		{name: "bad consumer", id: "bad-27", body: valid("bad-27", set("consumers", []string{"no spaces"})), status: 400, code: "invalid_request"},
		{name: "duplicate consumers", id: "bad-28", body: valid("bad-28", set("consumers", []string{"a", "a"})), status: 400, code: "invalid_request"},
		{name: "too many consumers", id: "bad-29", body: valid("bad-29", set("consumers", many(33, func(i int) string { return fmt.Sprintf("c%d", i) }))), status: 400, code: "invalid_request"},
		{name: "no check url", id: "bad-30", body: valid("bad-30", del("check_url")), status: 400, code: "invalid_request"},
		{name: "bad producer", id: "bad-31", body: valid("bad-31", set("producer", "orders service")), status: 400, code: "invalid_request"},
		{name: "bad duration", id: "bad-32", body: valid("bad-32", set("policy", map[string]any{"check_delay": "soon"})), status: 400, code: "invalid_request"},
		{name: "zero duration", id: "bad-33", body: valid("bad-33", set("policy", map[string]any{"check_timeout": "0s"})), status: 400, code: "invalid_request"},
		{name: "negative duration", id: "bad-34", body: valid("bad-34", set("policy", map[string]any{"resend_intervals": []string{"1m", "-1s"}})), status: 400, code: "invalid_request"},
		{name: "empty resend intervals", id: "bad-35", body: valid("bad-35", set("policy", map[string]any{"resend_intervals": []string{}})), status: 400, code: "invalid_request"},
		{name: "policy out of range", id: "bad-36", body: valid("bad-36", set("policy", map[string]any{"check_backoff": 20, "check_max_attempts": 5000})), status: 400, code: "invalid_request"},
		{name: "policy too long", id: "bad-37", body: valid("bad-37", set("policy", map[string]any{"check_delay": "1000h"})), status: 400, code: "invalid_request"},
		{name: "unknown policy field", id: "bad-38", body: valid("bad-38", set("policy", map[string]any{"retries": 3})), status: 400, code: "invalid_json"},
		{name: "deliver_at not RFC 3339", id: "bad-39", body: valid("bad-39", set("deliver_at", "tomorrow")), status: 400, code: "invalid_request"},
		{name: "deliver_at in the past", id: "bad-40", body: valid("bad-40", set("deliver_at", "2020-01-01T00:00:00Z")), status: 400, code: "invalid_request"},
		{name: "deliver_at too far", id: "bad-41", body: valid("bad-41", set("deliver_at", "2999-01-01T00:00:00Z")), status: 400, code: "invalid_request"},
		{name: "send: wrong type", id: "bad-42", path: "/v1/messages/send", body: valid("bad-42", set("consumers", "accounting")), status: 400, code: "invalid_json"},
		{name: "send: too large", id: "bad-43", path: "/v1/messages/send", body: valid("bad-43", set("payload", strings.Repeat("x", big))), status: 413, code: "payload_too_large"},
		{name: "payload not UTF-8", id: "bad-44", body: rawPayload("bad-44", "{\"note\":\"\xff\xfe\"}"), status: 400, code: "invalid_json"},
		{name: "send: payload not UTF-8", id: "bad-45", path: "/v1/messages/send", body: rawPayload("bad-45", "\"\xc3\""), status: 400, code: "invalid_json"},
		{name: "payload lone surrogate", id: "bad-46", body: rawPayload("bad-46", `"\ud800"`), status: 400, code: "invalid_json"},
		{name: "payload too deep", id: "bad-47", body: rawPayload("bad-47", strings.Repeat("[", 101)+strings.Repeat("]", 101)), status: 400, code: "invalid_json"},
		{name: "payload names a member twice", id: "bad-48", body: rawPayload("bad-48", `{"amount":1,"amount":1000}`), status: 400, code: "invalid_json"},
		{name: "payload number out of range", id: "bad-49", body: rawPayload("bad-49", `{"amount":1e400}`), status: 400, code: "invalid_json"},
		{name: "key not UTF-8", id: "bad-50", body: strings.Replace(valid("bad-50", set("key", "RAW")), "RAW", "k\xff", 1), status: 400, code: "invalid_json"},
		{name: "empty id", body: valid("", same), status: 400, code: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tc.path
			if path == "" {
				path = "/v1/messages"
			}
			r := e.open.do(t, request{Method: http.MethodPost, Path: path, Body: tc.body, ContentType: tc.contentType})
			requireError(t, r, tc.status, tc.code)
			if tc.id != "" {
				e.open.requireAbsent(t, tc.id)
			}
		})
	}

	t.Run("every problem is reported", func(t *testing.T) {
		t.Parallel()
		body := valid("bad-all", func(m map[string]any) {
			m["topic"] = "a b"
			m["producer"] = "a b"
			m["consumers"] = []string{"x", "x"}
			m["policy"] = map[string]any{"check_delay": "soon"}
		})
		msg := requireError(t, e.open.do(t, request{Method: http.MethodPost, Path: "/v1/messages", Body: body}), http.StatusBadRequest, "invalid_request")
		for _, want := range []string{"topic", "producer", "listed twice", "check_delay"} {
			require.Contains(t, msg, want)
		}
		e.open.requireAbsent(t, "bad-all")
	})
}
