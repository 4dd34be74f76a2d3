package console

import (
	"net/http"
	"slices"
	"strconv"
)

// refreshPeriods are the auto-refresh periods, in seconds, an operator may
// choose.
var refreshPeriods = []int{10, 30, 60}

// refreshCookie keeps the chosen period from page to page.
const refreshCookie = "courier_refresh"

// refreshParam chooses the period on any page: one of refreshPeriods, or
// "off". Any other value turns it off too.
const refreshParam = "refresh"

// refreshing are the pages that refresh themselves: those an operator
// watches. Pages with inputs (the list's filters, a message's action forms,
// a confirmation, signing in) never do, so that a reload cannot wipe what
// the operator is typing.
var refreshing = map[string]bool{"overview.html": true, "audit.html": true}

// refreshLink is one choice of period, a link to the same page.
type refreshLink struct {
	Label   string
	URL     string
	Current bool
}

// refresh reads the operator's auto-refresh choice, ?refresh= when the
// request has it (recorded in a cookie for the next pages) or else the
// cookie's, and returns the period page refreshes at (0 for none) with the
// links that change it. Only the GET pages in refreshing refresh and show
// the links.
func refresh(w http.ResponseWriter, r *http.Request, page string) (int, []refreshLink) {
	var period int
	if v, ok := r.URL.Query()[refreshParam]; ok {
		period = validPeriod(v[0])
		c := &http.Cookie{Name: refreshCookie, Value: strconv.Itoa(period), Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode}
		if period == 0 {
			c.MaxAge = -1
		}
		http.SetCookie(w, c)
	} else if c, err := r.Cookie(refreshCookie); err == nil {
		period = validPeriod(c.Value)
	}
	if r.Method != http.MethodGet || !refreshing[page] {
		return 0, nil
	}
	links := []refreshLink{{Label: "off", Current: period == 0}}
	for _, p := range refreshPeriods {
		links = append(links, refreshLink{Label: strconv.Itoa(p) + " s", Current: period == p})
	}
	for i := range links {
		q := r.URL.Query()
		q.Set(refreshParam, "off")
		if i > 0 {
			q.Set(refreshParam, strconv.Itoa(refreshPeriods[i-1]))
		}
		links[i].URL = r.URL.Path + "?" + q.Encode()
	}
	return period, links
}

// validPeriod is v as a period of refreshPeriods, or 0.
func validPeriod(v string) int {
	p, err := strconv.Atoi(v)
	if err != nil || !slices.Contains(refreshPeriods, p) {
		return 0
	}
	return p
}
