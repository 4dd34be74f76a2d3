package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// AllowLoopback is the CheckURLAllowHosts entry that allows the loopback
// addresses: 127.0.0.0/8, ::1 and the name localhost.
const AllowLoopback = "loopback"

// hostAllowList is Config.CheckURLAllowHosts, parsed. A check URL is a request
// Courier's worker makes on the caller's behalf from inside the network, so
// its host must be one the operator listed (SSRF protection). Listed names
// are trusted as they resolve.
type hostAllowList struct {
	setting  string // Config.CheckURLAllowSetting, named in a refusal
	loopback bool
	names    []string     // exact DNS names, lower case, no trailing dot
	suffixes []string     // ".example.com" for the entry "*.example.com"
	ips      []netip.Addr // exact addresses, IPv4-mapped IPv6 unmapped
}

// parseAllowList parses the entries of Config.CheckURLAllowHosts, reporting
// every malformed one.
func parseAllowList(entries []string) (hostAllowList, error) {
	var l hostAllowList
	var errs []error
	for i, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == AllowLoopback:
			l.loopback = true
		case strings.HasPrefix(e, "*."):
			name, err := canonicalName(e[2:])
			if err != nil {
				errs = append(errs, fmt.Errorf("check URL allow-list entry %d %q: %w", i, e, err))
				continue
			}
			l.suffixes = append(l.suffixes, "."+name)
		default:
			if ip, err := netip.ParseAddr(e); err == nil {
				if ip.Zone() != "" {
					errs = append(errs, fmt.Errorf("check URL allow-list entry %d %q: IPv6 zones are not allowed", i, e))
					continue
				}
				l.ips = append(l.ips, ip.Unmap())
				continue
			}
			name, err := canonicalName(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("check URL allow-list entry %d %q: want a host name, an IP address, \"*.domain\" or %q: %w", i, e, AllowLoopback, err))
				continue
			}
			l.names = append(l.names, name)
		}
	}
	return l, errors.Join(errs...)
}

// named is " (setting)" when the operator's setting of the list is known.
func (l hostAllowList) named() string {
	if l.setting == "" {
		return ""
	}
	return " (" + l.setting + ")"
}

// empty reports whether no host at all is allowed.
func (l hostAllowList) empty() bool {
	return !l.loopback && len(l.names) == 0 && len(l.suffixes) == 0 && len(l.ips) == 0
}

// canonicalName lower-cases a DNS name, drops one trailing dot and checks its
// syntax: labels of [a-z0-9-], 1-63 long, not starting or ending with "-",
// 253 characters in all, and a last label that starts with a letter, so that
// numeric forms resolvers read as IPv4 addresses ("127.1", "2130706433",
// "0x7f.1") never pass as names.
func canonicalName(s string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(s), ".")
	if name == "" || len(name) > 253 {
		return "", errors.New("a host name is 1-253 characters")
	}
	labels := strings.Split(name, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' || !models.NameChars(label, "-") {
			return "", fmt.Errorf("label %q is not a valid DNS label", clip(label))
		}
	}
	if last := labels[len(labels)-1]; last[0] < 'a' || last[0] > 'z' {
		return "", fmt.Errorf("last label %q must start with a letter", last)
	}
	return name, nil
}

// allows reports whether host, as url.URL.Hostname returns it, is on the list.
func (l hostAllowList) allows(host string) (bool, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return false, errors.New("IPv6 zones are not allowed")
		}
		ip = ip.Unmap()
		return (l.loopback && ip.IsLoopback()) || slices.Contains(l.ips, ip), nil
	}
	name, err := canonicalName(host)
	if err != nil {
		return false, err
	}
	if l.loopback && name == "localhost" {
		return true, nil
	}
	if slices.Contains(l.names, name) {
		return true, nil
	}
	for _, suffix := range l.suffixes {
		if strings.HasSuffix(name, suffix) {
			return true, nil
		}
	}
	return false, nil
}

// checkURL validates a message's check_url: an absolute http or https URL of
// at most 2048 characters, without user info or fragment, whose host is on
// the allow-list.
func (l hostAllowList) checkURL(raw string) error {
	if len(raw) > wire.MaxCheckURLLen {
		return fmt.Errorf("check_url is longer than %d characters", wire.MaxCheckURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("check_url %q is not a URL", clip(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("check_url %q must be an absolute http or https URL", clip(raw))
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("check_url %q has no host", clip(raw))
	}
	if u.User != nil {
		return fmt.Errorf("check_url %q must not carry user info", clip(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("check_url %q must not have a fragment", clip(raw))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("check_url %q has an invalid port", clip(raw))
		}
	}
	ok, err := l.allows(u.Hostname())
	if err != nil {
		return fmt.Errorf("check_url host %q: %w", clip(u.Hostname()), err)
	}
	if !ok {
		return fmt.Errorf("check_url host %q is not on the allow-list%s", clip(u.Hostname()), l.named())
	}
	return nil
}
