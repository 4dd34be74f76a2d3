package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPortIsBindableAndBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		port, err := Port("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if low-floor >= 1000 && (port < floor || port >= low) {
			t.Fatalf("port %d is outside [%d, %d)", port, floor, low)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		ln.Close()
	}
}

func TestPortSkipsATakenPort(t *testing.T) {
	// A port another listener holds is not free.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if free("127.0.0.1", ln.Addr().(*net.TCPAddr).Port) {
		t.Fatal("a bound port was reported free")
	}
}

func TestPortNeverReturnsAPortTwice(t *testing.T) {
	// 1,000 random draws from some 20,000 ports would repeat one almost
	// surely.
	seen := map[int]bool{}
	for range 1000 {
		port, err := Port("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("port %d returned twice", port)
		}
		seen[port] = true
	}
}
