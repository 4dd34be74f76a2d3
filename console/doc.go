// Package console is the operator console the gateway serves under
// /console/: server-rendered pages over the mirror (overview, list), the
// workflow's live state (a message's timeline), and the actions an operator
// takes on stuck messages, each answered by the message's workflow and kept
// in the audit log.
//
// It needs no JavaScript and loads nothing from elsewhere: templates and the
// stylesheet are embedded in the binary, and the Content-Security-Policy
// allows no script at all. Only an admin identity may use it: signing in
// with an admin's API key sets an HttpOnly, SameSite=Strict cookie holding
// that key, so any gateway of a deployment accepts the session and removing
// the key ends it; every form carries a CSRF token. With no API keys
// configured the console is open, and says so on every page.
package console
