package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/models"
)

// checkBundle runs CheckBack the way a worker would.
type checkBundle struct {
	acts *activities.Activities
	env  *testsuite.TestActivityEnvironment
}

// setupCheck builds the activities with NewCheckClient. A non-zero timeout
// bounds every activity run, as the workflow's StartToCloseTimeout does.
func setupCheck(t *testing.T, maxBody int64, timeout time.Duration) *checkBundle {
	t.Helper()
	acts := &activities.Activities{HTTP: activities.NewCheckClient(), MaxCheckBody: maxBody}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	if timeout > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		t.Cleanup(cancel)
		env.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
	}
	env.RegisterActivity(acts)
	return &checkBundle{acts: acts, env: env}
}

// check runs one check-back against url.
func (b *checkBundle) check(t *testing.T, url string) activities.CheckResult {
	t.Helper()
	val, err := b.env.ExecuteActivity(b.acts.CheckBack, activities.CheckInput{
		MessageID: "m-1", Topic: "orders", Key: "k", Producer: "billing", URL: url, Attempt: 3,
	})
	require.NoError(t, err, "a check-back only fails on its own bugs")
	var res activities.CheckResult
	require.NoError(t, val.Get(&res))
	return res
}

// server is an httptest server closed at the end of the test.
func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckBackAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		code   int
		body   string
		answer models.CheckAnswer
		detail string
	}{
		{"committed", 200, `{"status":"COMMITTED"}`, models.CheckCommitted, ""},
		{"rolled back with extra fields", 200, `{"status":"ROLLED_BACK","reason":"insufficient funds"}`, models.CheckRolledBack, ""},
		{"committed with 201", 201, `{"status":"COMMITTED"}`, models.CheckCommitted, ""},
		{"unknown", 200, `{"status":"UNKNOWN"}`, models.CheckUnknown, "producer answered UNKNOWN"},
		{"lower case", 200, `{"status":"committed"}`, models.CheckUnknown, `unexpected status "committed"`},
		{"other status", 200, `{"status":"DONE"}`, models.CheckUnknown, `unexpected status "DONE"`},
		{"long status", 200, `{"status":"` + strings.Repeat("X", 1000) + `"}`, models.CheckUnknown, strings.Repeat("X", 64) + `..."`},
		{"no status", 200, `{}`, models.CheckUnknown, "no status"},
		{"status not a string", 200, `{"status":1}`, models.CheckUnknown, "malformed answer"},
		{"garbage", 200, `<html>oops</html>`, models.CheckUnknown, "malformed answer"},
		{"trailing data", 200, `{"status":"COMMITTED"} {"status":"ROLLED_BACK"}`, models.CheckUnknown, "malformed answer"},
		{"empty body", 204, ``, models.CheckUnknown, "malformed answer"},
		{"server error", 500, `{"status":"COMMITTED"}`, models.CheckUnknown, "HTTP 500 Internal Server Error"},
		{"not found", 404, `{"status":"ROLLED_BACK"}`, models.CheckUnknown, "HTTP 404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupCheck(t, 0, 0)
			srv := server(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.code)
				_, _ = io.WriteString(w, tc.body)
			})

			res := b.check(t, srv.URL)
			require.Equal(t, tc.answer, res.Answer)
			if tc.detail == "" {
				require.Empty(t, res.Detail)
			} else {
				require.Contains(t, res.Detail, tc.detail)
			}
		})
	}
}

func TestCheckBackSendsDocumentedRequest(t *testing.T) {
	t.Parallel()
	b := setupCheck(t, 0, 0)
	requests := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		requests <- r
		bodies <- body
		_, _ = io.WriteString(w, `{"status":"COMMITTED"}`)
	})

	res := b.check(t, srv.URL+"/tx/check?source=courier")
	require.Equal(t, models.CheckCommitted, res.Answer)

	r := <-requests
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/tx/check", r.URL.Path)
	require.Equal(t, "courier", r.URL.Query().Get("source"))
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "m-1", r.Header.Get(activities.CheckHeaderMessageID))
	require.JSONEq(t, `{"message_id":"m-1","topic":"orders","key":"k","producer":"billing","attempt":3}`, string(<-bodies))
}

func TestCheckBackDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	b := setupCheck(t, 0, 0)
	var targetHits atomic.Int64
	target := server(t, func(w http.ResponseWriter, _ *http.Request) {
		targetHits.Add(1)
		_, _ = io.WriteString(w, `{"status":"COMMITTED"}`)
	})
	origin := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})

	res := b.check(t, origin.URL)
	require.Equal(t, models.CheckUnknown, res.Answer)
	require.Contains(t, res.Detail, "HTTP 307 Temporary Redirect to "+target.URL)
	require.Zero(t, targetHits.Load(), "the redirect was followed")
}

func TestCheckBackStopsReadingHugeBody(t *testing.T) {
	t.Parallel()
	const maxBody = 4 << 10
	const total = 10 << 20
	b := setupCheck(t, maxBody, 0)
	written := make(chan int, 1)
	srv := server(t, func(w http.ResponseWriter, _ *http.Request) {
		// A 2xx answer that starts like JSON and then streams 10 MiB slowly.
		n, _ := io.WriteString(w, `{"status":"COMMITTED","padding":"`)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for n < total {
			m, err := w.Write(chunk)
			n += m
			if err != nil {
				break
			}
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
		written <- n
	})

	res := b.check(t, srv.URL)
	require.Equal(t, models.CheckUnknown, res.Answer)
	require.Equal(t, fmt.Sprintf("malformed answer: longer than %d bytes", maxBody), res.Detail)
	require.Less(t, <-written, total, "the server could send the whole body: the client read it all")
}

// TestCheckBackWithoutAnAnswerIsUnknown: a producer that cannot be reached,
// or does not answer in time, is reported UNKNOWN with a detail that says
// which, never as an activity failure or timeout.
func TestCheckBackWithoutAnAnswerIsUnknown(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name string
		// timeout is the activity's time; the check-back must give up
		// within it. 0: no limit.
		timeout time.Duration
		// handler answers the check-back; nil: the URL refuses connections.
		handler http.HandlerFunc
		detail  string
	}{
		{
			name:    "no answer",
			timeout: 2 * time.Second,
			handler: func(_ http.ResponseWriter, r *http.Request) {
				// The server notices the client hang up once the body is read.
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			},
			detail: "no answer within",
		},
		{
			name:    "slow body",
			timeout: 2 * time.Second,
			handler: func(w http.ResponseWriter, r *http.Request) {
				// Headers and half an answer, then silence.
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = io.WriteString(w, `{"status":`)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			detail: "answer not read within",
		},
		{name: "connection refused", detail: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupCheck(t, 0, tc.timeout)
			url := closed.URL
			if tc.handler != nil {
				url = server(t, tc.handler).URL
			}

			res := b.check(t, url)
			require.Equal(t, models.CheckUnknown, res.Answer)
			require.Contains(t, res.Detail, tc.detail)
		})
	}
}

func TestCheckBackInvalidURL(t *testing.T) {
	t.Parallel()
	b := setupCheck(t, 0, 0)
	for _, url := range []string{"://no-scheme", "ftp://example.invalid/check", ""} {
		res := b.check(t, url)
		require.Equal(t, models.CheckUnknown, res.Answer, url)
		require.NotEmpty(t, res.Detail, url)
	}
}

// Keep the request's JSON field names honest for producers decoding it.
func TestCheckRequestJSON(t *testing.T) {
	t.Parallel()
	raw, err := json.Marshal(activities.CheckRequest{MessageID: "m", Topic: "t", Attempt: 1})
	require.NoError(t, err)
	require.JSONEq(t, `{"message_id":"m","topic":"t","key":"","producer":"","attempt":1}`, string(raw))
}

func TestCheckBackFollowsNoRedirectToAForbiddenHost(t *testing.T) {
	t.Parallel()
	b := setupCheck(t, 0, 5*time.Second)
	var targetHits atomic.Int64
	target := server(t, func(w http.ResponseWriter, _ *http.Request) {
		targetHits.Add(1)
		_, _ = io.WriteString(w, `{"status":"COMMITTED"}`)
	})
	// The check URL's host was on the gateway's allow-list; where it
	// redirects to need not be: the cloud metadata service, or another host.
	targetURL, err := url.Parse(target.URL)
	require.NoError(t, err)
	for _, location := range []string{"http://169.254.169.254/latest/meta-data/iam/", "http://localhost:" + targetURL.Port() + "/"} {
		for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			origin := server(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", location)
				w.WriteHeader(code)
			})
			res := b.check(t, origin.URL)
			require.Equal(t, models.CheckUnknown, res.Answer, "HTTP %d to %s", code, location)
			require.Contains(t, res.Detail, "redirects are not followed")
			require.Contains(t, res.Detail, location)
		}
	}
	require.Zero(t, targetHits.Load(), "a redirect was followed")
}

// zeros is an endless body that costs no memory to produce.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Not parallel: it measures the process's allocations, which other tests
// running beside it would add to.
func TestCheckBackGigabyteBodyIsNotRead(t *testing.T) {
	const gigabyte = 1 << 30
	b := setupCheck(t, 0, 10*time.Second)
	written := make(chan int64, 1)
	srv := server(t, func(w http.ResponseWriter, _ *http.Request) {
		// A 2xx answer announcing a gigabyte, starting like the right JSON,
		// then streaming zeros slowly.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(gigabyte))
		n, _ := io.WriteString(w, `{"status":"COMMITTED","padding":"`)
		total := int64(n)
		for total < gigabyte {
			m, err := io.CopyN(w, zeros{}, 1<<20)
			total += m
			if err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		written <- total
	})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res := b.check(t, srv.URL)
	runtime.ReadMemStats(&after)

	require.Equal(t, models.CheckUnknown, res.Answer)
	require.Equal(t, fmt.Sprintf("malformed answer: longer than %d bytes", activities.DefaultMaxCheckBody), res.Detail)
	require.Less(t, <-written, int64(gigabyte), "the client read the whole gigabyte")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "reading the answer allocated as if it kept the body")
}
