package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/devstack"
	"github.com/courier-mq/courier/internal/freeport"
)

// TestWebUICourierStatusColumn follows the README in the Temporal Web UI
// that courier dev serves: in the workflow list, Configure Columns adds
// CourierStatus, and the list then shows a message the console cancelled as
// CANCELLED, though Temporal calls its workflow COMPLETED. The UI keeps the
// columns in the browser's local storage.
func TestWebUICourierStatusColumn(t *testing.T) {
	t.Parallel()
	s := newSite(t, identities())
	s.exhausted(t, "ui-1")
	admin := s.signIn(t, adminKey)
	token := admin.csrf(t, s.url+"/console/messages/ui-1")
	require.Equal(t, http.StatusOK, admin.post(t, s.url+"/console/messages/ui-1/cancel",
		url.Values{"reason": {"duplicate order"}, "confirmed": {"yes"}, "csrf": {token}}))
	s.wait(t, "ui-1", wire.StatusCancelled)

	port, err := freeport.Port("127.0.0.1")
	require.NoError(t, err)
	ui, err := devstack.StartUI(t.Context(), devstack.UIConfig{Port: port, TemporalHostPort: s.stack.HostPort, Namespace: s.stack.Namespace})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ui.Stop() })

	b := newBrowser(t)
	list := ui.URL() + "/namespaces/" + url.PathEscape(s.stack.Namespace) + "/workflows"
	b.waitListed(t, list, func(text string) bool { return strings.Contains(text, "msg-ui-1") }, "the workflow list never showed msg-ui-1")
	require.NotContains(t, b.innerText(t), "CANCELLED", "the list shows no Courier status before the column is added")

	b.run(t, chromedp.Click(chromedp.CSS(`[data-testid="workflows-summary-table-configuration-button"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Add CourierStatus column"]`)))
	// A script's click: the drawer slides in, and a click at where the
	// button was a moment ago lands outside it and closes it.
	get(t, b, chromedp.Evaluate[bool](`document.querySelector('button[aria-label="Add CourierStatus column"]').click() === undefined`))
	var stored string
	require.Eventually(t, func() bool {
		stored = get(t, b, chromedp.Evaluate[string](`localStorage.getItem("namespace-workflow-table-columns") || ""`))
		return strings.Contains(stored, "CourierStatus")
	}, 10*time.Second, 100*time.Millisecond, "the column is not kept in the browser's local storage: %q", stored)

	// A fresh load of the list, as an operator's next visit.
	b.waitListed(t, list, func(text string) bool {
		return strings.Contains(text, "CourierStatus") && strings.Contains(text, "CANCELLED") && strings.Contains(text, "COMPLETED")
	}, "the list never showed the CourierStatus column with CANCELLED")
}

// waitListed loads the Web UI's workflow list until its text satisfies ok:
// the UI reads the list once a load, and Temporal's visibility may lag the
// workflows on a loaded machine.
func (b *browser) waitListed(t *testing.T, list string, ok func(text string) bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b.run(t, chromedp.Navigate(list), chromedp.WaitVisible(chromedp.CSS(`[data-testid="workflows-summary-table-configuration-button"]`)))
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if ok(b.innerText(t)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", msg, b.innerText(t))
		}
	}
}

// innerText is the page's visible text.
func (b *browser) innerText(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	require.NoError(t, err)
	return text
}
