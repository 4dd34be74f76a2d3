package devstack

import (
	"net"
)

// loopback is where the servers' internal listeners bind: only this process
// talks to them.
const loopback = "127.0.0.1"

// dialHost is the host that clients in this process dial to reach a server
// bound to host: a wildcard bind (0.0.0.0, ::) is reached over loopback.
func dialHost(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return loopback
	}
	return host
}
