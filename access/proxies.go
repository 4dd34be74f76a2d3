package access

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies (load balancers, ingresses) in front of
// the gateway whose X-Forwarded-For is believed. The zero value trusts none:
// every request counts as coming from its connection's peer.
type Proxies struct {
	ranges []netip.Prefix
}

// ParseProxies reads trusted proxies: IP addresses and CIDR ranges
// ("10.0.0.0/8"). Names are refused: what is trusted must not change with
// DNS.
func ParseProxies(list []string) (Proxies, error) {
	var p Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			prefix, err := netip.ParsePrefix(s)
			if err != nil {
				return Proxies{}, fmt.Errorf("trusted proxies: %q is not a CIDR range", s)
			}
			if masked := prefix.Masked(); masked != prefix {
				return Proxies{}, fmt.Errorf("trusted proxies: %q has host bits set: did you mean %s?", s, masked)
			}
			p.ranges = append(p.ranges, prefix)
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted proxies: %q is neither an IP address nor a CIDR range", s)
		}
		ip = ip.Unmap()
		p.ranges = append(p.ranges, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return p, nil
}

// trusts reports whether ip is one of the proxies.
func (p Proxies) trusts(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, r := range p.ranges {
		if r.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientAddress is the address a Throttle counts r under: r's peer's
// (peerAddress), unless the peer is a trusted proxy: then the X-Forwarded-For hops are read from the right,
// each added by a proxy, and the first that is not a trusted proxy is the
// client. Hops left of it are what the client wrote itself and are never
// believed. A hop that is no address stops the walk at the last trusted
// one; when every hop is trusted the left-most counts.
func (p Proxies) ClientAddress(r *http.Request) string {
	ip, ok := hopAddr(r.RemoteAddr)
	if !ok || !p.trusts(ip) {
		return peerAddress(r.RemoteAddr)
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		next, ok := hopAddr(hop)
		if !ok {
			break
		}
		ip = next
		if !p.trusts(ip) {
			break
		}
	}
	return network(ip)
}

// hopAddr parses one hop: an IP, with or without a port ("ip:port",
// "[v6]:port").
func hopAddr(hop string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(hop); err == nil {
		return ip, true
	}
	host, _, err := net.SplitHostPort(hop)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}
