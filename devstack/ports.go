package devstack

import (
	"fmt"
	"net"
)

// loopback is where the servers' internal listeners bind: only this process
// talks to them.
const loopback = "127.0.0.1"

// freePort asks the kernel for a free TCP port on host. The port is released
// before the caller binds it, so another process could take it in between; that
// is acceptable for a dev stack and avoids clashing with well-known ports.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// dialHost is the host that clients in this process dial to reach a server
// bound to host: a wildcard bind (0.0.0.0, ::) is reached over loopback.
func dialHost(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return loopback
	}
	return host
}
