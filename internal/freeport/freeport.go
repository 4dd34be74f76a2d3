// Package freeport picks TCP ports for servers whose address must be known
// before they start: the embedded Temporal services and the test stacks.
//
// Asking the kernel for port 0 and releasing it leaves a window in which the
// port can be taken before it is bound again, and the kernel draws port 0
// from the same ephemeral range as every outgoing connection's local port: on
// a busy machine (a test suite dialling databases and brokers) one of those
// connections takes the port often enough to fail CI. So Port draws from
// below the ephemeral range, where only explicit binds land, and checks that
// the port is free by binding it. It never returns a port twice in one
// process: parallel tests each pick ports and bind them later, some many
// seconds later (a cluster's second node starts once the first is up), and a
// port still free at another test's pick may already be promised. Nor, on
// Linux, does it return a port another living process was given: the chaos
// suite runs `courier dev` processes that pick their own ports while the test
// process picks its own, and `go test` runs packages side by side.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// floor is the lowest port Port draws: above the registered services most
// often run on a developer's machine.
const floor = 10000

// Port returns a TCP port that was free on host a moment ago and lies outside
// the kernel's ephemeral range when that range leaves room below it.
func Port(host string) (int, error) {
	if low := ephemeralLow(); low-floor >= 1000 {
		for range 100 {
			port := floor + rand.IntN(low-floor)
			if free(host, port) && promise(port) {
				return port, nil
			}
		}
	}
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("find a free port on %s: %w", host, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if promise(port) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("find a free port on %s: every port tried was returned before", host)
}

var (
	promisedMu sync.Mutex
	promised   = map[int]bool{}
	// claims hold this process's claims on its ports for as long as it
	// lives; the kernel drops them when it exits, however it exits.
	claims []net.Listener
)

// promise records port as returned and reports whether it was not before, in
// this process or, where claim can tell, in any other living one.
func promise(port int) bool {
	promisedMu.Lock()
	defer promisedMu.Unlock()
	if promised[port] {
		return false
	}
	promised[port] = true
	return claim(port)
}

// claim binds the abstract Unix socket named after port, which one process at
// a time can hold, in the same network namespace as the port itself. A port
// some other process holds is refused. Elsewhere than Linux there is no such
// namespace, and every port is granted.
func claim(port int) bool {
	if runtime.GOOS != "linux" {
		return true
	}
	ln, err := net.Listen("unix", "@courier-freeport-"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	claims = append(claims, ln)
	return true
}

// free reports whether port can be bound on host now.
func free(host string, port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// ephemeralLow is the first port of Linux's ephemeral range, or 0 where it
// cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return low
}
