package devstack

import (
	"fmt"
	"net"
	"strconv"
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

// CheckPort reports whether a server of this process could listen on host's
// port now, by listening and closing. Its error wraps the listen error
// (errors.Is(err, syscall.EADDRINUSE) when another process holds the port).
// The port can still be taken between the check and the server's own listen;
// the check exists so that the common case, a port held by a server started
// earlier, fails before anything starts and with an error that names it.
func CheckPort(host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if err := ln.Close(); err != nil {
		return fmt.Errorf("release %s: %w", addr, err)
	}
	return nil
}
