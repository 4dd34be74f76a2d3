package gateway

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// testRules are the rules of a defaulted Config that allows loopback check URLs.
func testRules(t testing.TB) rules {
	t.Helper()
	allow, err := parseAllowList([]string{AllowLoopback, "*.example.com"})
	require.NoError(t, err)
	return rules{
		maxPayload:    DefaultMaxPayloadBytes,
		tolerance:     DefaultDeliverAtTolerance,
		allow:         allow,
		defaultPolicy: wire.DefaultTiming(),
	}
}

var testNow = time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)

const validPrepare = `{"id":"m-1","topic":"orders","key":"k","payload":{"a": [1, 2]},
	"headers":{"trace-id":"t"},"check_url":"http://127.0.0.1:8080/check","producer":"orders-svc",
	"consumers":["accounting","points"],"deliver_at":"2030-01-02T17:00:00+01:00",
	"policy":{"check_delay":"1s","resend_intervals":["1m","2m"],"check_max_attempts":3}}`

func TestDecodePrepare(t *testing.T) {
	t.Parallel()
	r := testRules(t)
	pm, err := r.decodePrepare([]byte(validPrepare), false, testNow, access.Anonymous)
	require.NoError(t, err)
	msg := pm.input.Message
	require.Equal(t, "m-1", msg.ID)
	require.Equal(t, []byte(`{"a": [1, 2]}`), msg.Payload, "the payload's raw JSON bytes")
	require.Equal(t, map[string]string{"trace-id": "t"}, msg.Headers)
	require.Equal(t, []string{"accounting", "points"}, msg.Consumers)
	require.Equal(t, time.Date(2030, 1, 2, 16, 0, 0, 0, time.UTC), *msg.DeliverAt)
	require.Equal(t, wire.StatusWaitingConfirm, pm.input.FirstStatus(testNow))
	require.False(t, pm.input.Confirmed)

	want := wire.DefaultTiming()
	want.CheckDelay = time.Second
	want.ResendIntervals = []time.Duration{time.Minute, 2 * time.Minute}
	want.CheckMaxAttempts = 3
	require.Equal(t, want, pm.input.Policy, "the message's policy over the defaults")
	require.Len(t, pm.fingerprint, 64)
}

func TestDecodePrepareDirect(t *testing.T) {
	t.Parallel()
	r := testRules(t)
	body := `{"topic":"orders","payload_base64":"AAEC"}`
	pm, err := r.decodePrepare([]byte(body), true, testNow, access.Anonymous)
	require.NoError(t, err)
	require.True(t, pm.input.Confirmed)
	require.Equal(t, wire.StatusSending, pm.input.FirstStatus(testNow))
	require.Equal(t, []byte{0, 1, 2}, pm.input.Message.Payload)
	require.NotEmpty(t, pm.input.Message.ID, "an id is generated")

	pm, err = r.decodePrepare([]byte(`{"topic":"orders","payload":1,"deliver_at":"2030-01-02T15:05:00Z"}`), true, testNow, access.Anonymous)
	require.NoError(t, err)
	require.Equal(t, wire.StatusScheduled, pm.input.FirstStatus(testNow))

	_, err = r.decodePrepare([]byte(body), false, testNow, access.Anonymous)
	requireAPIError(t, err, http.StatusBadRequest, codeInvalidRequest, "check_url is required")
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	r := testRules(t)
	fp := func(body string, direct bool) string {
		t.Helper()
		pm, err := r.decodePrepare([]byte(body), direct, testNow, access.Anonymous)
		require.NoError(t, err)
		return pm.fingerprint
	}
	base := fp(`{"id":"m","topic":"t","payload":"hi","check_url":"http://localhost/"}`, false)
	require.Equal(t, base, fp(`{"check_url":"http://localhost/", "payload":"hi", "topic":"t", "id":"m"}`, false), "field order")
	require.Equal(t, base, fp(`{"id":"m","topic":"t","payload":"hi","check_url":"http://localhost/","headers":{},"consumers":[]}`, false), "empty collections")
	require.Equal(t, base, fp(`{"id":"m","topic":"t","payload_base64":"`+base64.StdEncoding.EncodeToString([]byte(`"hi"`))+`","check_url":"http://localhost/"}`, false), "the same payload bytes")
	for name, body := range map[string]string{
		"payload":  `{"id":"m","topic":"t","payload":"ho","check_url":"http://localhost/"}`,
		"key":      `{"id":"m","topic":"t","key":"k","payload":"hi","check_url":"http://localhost/"}`,
		"check":    `{"id":"m","topic":"t","payload":"hi","check_url":"http://localhost/x"}`,
		"policy":   `{"id":"m","topic":"t","payload":"hi","check_url":"http://localhost/","policy":{"check_delay":"1s"}}`,
		"consumer": `{"id":"m","topic":"t","payload":"hi","check_url":"http://localhost/","consumers":["a"]}`,
	} {
		require.NotEqual(t, base, fp(body, false), name)
	}
	require.NotEqual(t, base, fp(`{"id":"m","topic":"t","payload":"hi","check_url":"http://localhost/"}`, true), "direct send")
}

func TestDecodePrepareErrors(t *testing.T) {
	t.Parallel()
	r := testRules(t)
	r.maxPayload = 8
	for _, tc := range []struct {
		body   string
		status int
		code   string
		msg    string
	}{
		{`{"topic":"orders","payload":"0123456789","check_url":"http://localhost/"}`, 413, codePayloadTooLarge, "at most 8"},
		{`{"topic":"orders","payload_base64":"MDEyMzQ1Njc4","check_url":"http://localhost/"}`, 413, codePayloadTooLarge, "at most 8"},
		{`{"topic":"orders","payload":1,"check_url":"http://localhost/"} {}`, 400, codeInvalidJSON, "after the JSON object"},
		{`{"topic":"orders","payload":1,"check_url":"http://localhost/","policy":{"check_delay":5}}`, 400, codeInvalidJSON, "policy.check_delay must be a string"},
		{`{"topic":"orders","payload":1,"check_url":"http://localhost/","policy":{"check_max_attempts":1e30}}`, 400, codeInvalidJSON, "policy.check_max_attempts must be an integer"},
		{`{"topic":"orders","payload":1,"check_url":"http://localhost/","headers":{"a":1}}`, 400, codeInvalidJSON, "field headers must be a string"},
		{`{"topic":"orders","payload":1,"check_url":"http://localhost/","policy":{"check_delay":"2m","check_max_delay":"1m"}}`, 400, codeInvalidRequest, "exceeds check_max_delay"},
		{`{"topic":"orders","payload":1,"check_url":"http://localhost/","deliver_at":"2030-01-02T15:02:00Z"}`, 400, codeInvalidRequest, "in the past"},
		{`{"topic":"orders","payload":1,"check_url":"http://a.example.com/","headers":{"COURIER-message-id":"x"}}`, 400, codeInvalidRequest, "reserved prefix"},
		{`{"topic":"orders","payload":1,"check_url":"http://example.com/"}`, 400, codeInvalidRequest, "not on the allow-list"},
	} {
		_, err := r.decodePrepare([]byte(tc.body), false, testNow, access.Anonymous)
		requireAPIError(t, err, tc.status, tc.code, tc.msg)
	}
	// Within the tolerance, a deliver_at in the past is fine.
	_, err := r.decodePrepare([]byte(`{"topic":"orders","payload":1,"check_url":"http://localhost/","deliver_at":"2030-01-02T15:03:30Z"}`), false, testNow, access.Anonymous)
	require.NoError(t, err)
}

func requireAPIError(t *testing.T, err error, status int, code, msg string) {
	t.Helper()
	var ae *apiError
	require.True(t, errors.As(err, &ae), "want an *apiError, got %T: %v", err, err)
	require.Equal(t, status, ae.status, ae.msg)
	require.Equal(t, code, ae.code, ae.msg)
	require.Contains(t, ae.msg, msg)
}

func FuzzDecodePrepare(f *testing.F) {
	for _, seed := range []string{
		validPrepare,
		`{"topic":"orders","payload_base64":"AAEC"}`,
		`{"topic":"orders","payload":null,"payload_base64":"=="}`,
		`{"id":"..","topic":".","payload":{},"check_url":"http://[::1]:0/"}`,
		`{"topic":"o","payload":1,"check_url":"http://127.0.0.1/","policy":{"resend_intervals":[],"check_backoff":-1}}`,
		`{"topic":"o","payload":1,"headers":{"courier-x":""},"consumers":["a","a"],"deliver_at":"0000-01-01T00:00:00Z"}`,
		`[1,2,3]`, `null`, `{"a":`, ``,
		"{\"topic\":\"o\",\"payload\":\"\xff\"}", `{"topic":"o","payload":["\ud83d\ude00","\udc00"]}`,
		`{"topic":"o","payload":{"a":1,"a":2}}`, `{"topic":"o","payload":-1e400}`, `{"id":"","topic":"o","payload":[[[]]]}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	r := testRules(f)
	f.Fuzz(func(t *testing.T, body []byte, direct bool) {
		pm, err := r.decodePrepare(body, direct, testNow, access.Anonymous)
		if err != nil {
			var ae *apiError
			require.True(t, errors.As(err, &ae), "untyped error %T: %v", err, err)
			require.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, ae.status)
			require.NotEmpty(t, ae.code)
			return
		}
		// Whatever passes is a message the workflow and the mirror accept,
		// sent as text every consumer reads alike.
		require.True(t, utf8.Valid(body), "a body that is not UTF-8 was accepted")
		msg := pm.input.Message
		require.NoError(t, models.CheckID(msg.ID))
		require.NoError(t, models.CheckTopic(msg.Topic))
		require.LessOrEqual(t, len(msg.Payload), r.maxPayload)
		require.NoError(t, pm.input.Policy.Validate())
		require.NoError(t, checkHeaders(msg.Headers))
		require.NoError(t, checkConsumers(msg.Consumers))
		require.Equal(t, direct, pm.input.Confirmed)
		if !direct {
			require.NoError(t, r.allow.checkURL(msg.CheckURL))
		}
	})
}

func BenchmarkDecodePrepare(b *testing.B) {
	r := testRules(b)
	bodies := map[string][]byte{
		"small": []byte(validPrepare),
		"json-64KiB": []byte(`{"topic":"orders","check_url":"http://127.0.0.1/","payload":{"data":"` +
			strings.Repeat("x", 64<<10) + `"}}`),
		"base64-64KiB": []byte(`{"topic":"orders","check_url":"http://127.0.0.1/","payload_base64":"` +
			base64.StdEncoding.EncodeToString(make([]byte, 64<<10)) + `"}`),
	}
	for name, body := range bodies {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.decodePrepare(body, false, testNow, access.Anonymous); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodePrepareInvalid(b *testing.B) {
	r := testRules(b)
	body := []byte(`{"id":"bad id","topic":"a/b","payload":1,"check_url":"file:///etc/passwd","consumers":["x","x"]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.decodePrepare(body, false, testNow, access.Anonymous); err == nil {
			b.Fatal("invalid body accepted")
		}
	}
}
