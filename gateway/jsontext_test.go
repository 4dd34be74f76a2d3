package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/models"
)

// nested is a payload of depth levels of arrays: [[[...]]].
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func TestCheckJSONText(t *testing.T) {
	t.Parallel()
	accepted := []string{
		`{"payload":{"a":[1,2.5,-3e10,true,false,null],"b":"text"}}`,
		`{"payload":"caf\u00e9 \ud83d\ude00 \ufffd ok \"quoted\" \\ \/ \n"}`,
		"{\"payload\":\"raw UTF-8: é 😀 \u2028\"}",
		`{"payload":{"a":{"a":1}},"a":2}`,                    // one name at different levels
		`{"payload":{"a":1,"A":2,"\u0062":3}}`,               // case differs; b only once
		`{"payload":[1e308,-1.7976931348623157e308,1e-400]}`, // 1e-400 is read as 0 by everyone
		`{"payload":` + nested(100) + `}`,
		` { "payload" : [ ] , "x" : { } } `,
	}
	for _, body := range accepted {
		require.True(t, json.Valid([]byte(body)), body)
		require.NoError(t, checkJSONText([]byte(body)), body)
	}

	refused := []struct {
		name, body string
		want       []string
	}{
		{"invalid UTF-8", "{\"payload\":{\"note\":\"\xff\xfe\"}}", []string{"payload.note at byte 20", "not UTF-8", "payload_base64"}},
		{"invalid UTF-8 in a field", "{\"key\":\"k\xc3\"}", []string{"key at byte 9", "not UTF-8"}},
		{"overlong encoding", "{\"payload\":\"\xc0\xaf\"}", []string{"payload", "not UTF-8"}},
		{"encoded surrogate", "{\"payload\":\"\xed\xa0\x80\"}", []string{"payload", "not UTF-8"}},
		{"lone high surrogate", `{"payload":["ok","\ud800"]}`, []string{`payload[1] at byte 18`, `\ud800`, "payload_base64"}},
		{"lone low surrogate", `{"payload":"\udc00x"}`, []string{`\udc00`}},
		{"high surrogate then no low", `{"payload":"\ud83d\u0041"}`, []string{`\ud83d`}},
		{"surrogate in a name", `{"payload":{"\ud800":1}}`, []string{`\ud800`}},
		{"too deep", `{"payload":` + nested(101) + `}`, []string{"deeper than 100 levels", "payload[0][0]"}},
		{"duplicate name", `{"payload":{"a":1,"b":{"c":1,"c":2}}}`, []string{`payload.b names "c" twice`}},
		{"duplicate name by escape", `{"payload":{"b":1,"\u0062":2}}`, []string{`names "b" twice`}},
		{"duplicate field", `{"topic":"a","topic":"b"}`, []string{`the request body names "topic" twice`}},
		{"odd name in path", `{"payload":{"a b":[{"x":1,"x":1}]}}`, []string{`payload["a b"][0] names "x" twice`}},
		{"number out of range", `{"payload":{"n":1e400}}`, []string{"payload.n at byte 16", "1e400", "as a string"}},
		{"negative number out of range", `{"payload":[-2e308]}`, []string{"-2e308"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkJSONText([]byte(tc.body))
			for _, want := range tc.want {
				requireAPIError(t, err, http.StatusBadRequest, codeInvalidJSON, want)
			}
		})
	}
}

func TestDecodePrepareRefusesWhatConsumersCannotRead(t *testing.T) {
	t.Parallel()
	r := testRules(t)
	for _, body := range []string{
		"{\"topic\":\"orders\",\"payload\":\"\xff\xfe\"}",
		`{"topic":"orders","payload":"\ud800"}`,
		`{"topic":"orders","payload":` + nested(101) + `}`,
	} {
		_, err := r.decodePrepare([]byte(body), true, testNow, access.Anonymous)
		requireAPIError(t, err, http.StatusBadRequest, codeInvalidJSON, "payload")
	}
	// The same bytes as payload_base64 are fine: Kafka carries any bytes.
	pm, err := r.decodePrepare([]byte(`{"topic":"orders","payload_base64":"//4="}`), true, testNow, access.Anonymous)
	require.NoError(t, err)
	require.Equal(t, []byte{0xff, 0xfe}, pm.input.Message.Payload)
}

func TestDecodePrepareID(t *testing.T) {
	t.Parallel()
	r := testRules(t)
	_, err := r.decodePrepare([]byte(`{"id":"","topic":"orders","payload":1}`), true, testNow, access.Anonymous)
	requireAPIError(t, err, http.StatusBadRequest, codeInvalidRequest, `id is empty: leave "id" out`)

	for _, body := range []string{`{"topic":"orders","payload":1}`, `{"id":null,"topic":"orders","payload":1}`} {
		pm, err := r.decodePrepare([]byte(body), true, testNow, access.Anonymous)
		require.NoError(t, err, body)
		require.NoError(t, models.CheckID(pm.input.Message.ID), "a generated id")
	}
}
