package freeport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
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

// drawEnv, when set, makes the test binary a second process that draws that
// many ports, prints them, and holds them until its standard input closes.
const drawEnv = "FREEPORT_TEST_DRAW"

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(drawEnv)); err == nil {
		for range n {
			port, err := Port("127.0.0.1")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(port)
		}
		fmt.Println("done")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestTwoProcessesNeverShareAPort(t *testing.T) {
	// A test process and the `courier dev` it runs, or two test packages run
	// side by side, each pick ports and bind them later. 500 draws in each
	// of two processes from some 20,000 ports would share one almost surely.
	if runtime.GOOS != "linux" {
		t.Skip("ports are claimed across processes on Linux only")
	}
	const draws = 500
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), drawEnv+"="+strconv.Itoa(draws))
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = child.Wait() }()

	theirs := map[int]bool{}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() && lines.Text() != "done" {
		port, err := strconv.Atoi(lines.Text())
		if err != nil {
			t.Fatalf("the other process printed %q", lines.Text())
		}
		theirs[port] = true
	}
	if len(theirs) != draws {
		t.Fatalf("the other process drew %d ports, want %d", len(theirs), draws)
	}
	for range draws {
		port, err := Port("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if theirs[port] {
			t.Fatalf("port %d was returned to both processes", port)
		}
	}
}
