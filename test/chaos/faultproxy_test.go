package chaos

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoServer answers every line with the same line, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func setupProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := NewProxy(echoServer(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// echoConn is a connection through a Proxy to the echo server.
type echoConn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Proxy) *echoConn {
	t.Helper()
	conn, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &echoConn{Conn: conn, r: bufio.NewReader(conn)}
}

// roundTrip writes a line through c and reads the echo, with a deadline.
func (c *echoConn) roundTrip(line string, wait time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	return c.r.ReadString('\n')
}

// requireEcho fails t unless line comes back through c within 5 s.
func (c *echoConn) requireEcho(t *testing.T, line string, msgAndArgs ...any) {
	t.Helper()
	got, err := c.roundTrip(line, 5*time.Second)
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, line+"\n", got, msgAndArgs...)
}

// requireLate fails t unless the echo of line, sent before and held by a
// fault, arrives within 5 s.
func (c *echoConn) requireLate(t *testing.T, line string, msgAndArgs ...any) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	got, err := c.r.ReadString('\n')
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, line+"\n", got, msgAndArgs...)
}

func TestProxyPass(t *testing.T) {
	t.Parallel()
	p := setupProxy(t)
	dial(t, p).requireEcho(t, "hello")
	require.Zero(t, p.Faults())
}

func TestProxyDelay(t *testing.T) {
	t.Parallel()
	p := setupProxy(t)
	require.NoError(t, p.Set(Delay, 300*time.Millisecond))
	conn := dial(t, p)
	// Both directions are delayed: the echo cannot come back within the
	// delay of one direction.
	_, err := conn.roundTrip("slow", 250*time.Millisecond)
	requireTimeout(t, err)
	conn.requireLate(t, "slow", "delayed bytes still arrive, in order")
	require.Equal(t, 1, p.Faults())
}

func TestProxyCut(t *testing.T) {
	t.Parallel()
	p := setupProxy(t)
	conn := dial(t, p)
	conn.requireEcho(t, "before")

	require.NoError(t, p.Set(Cut, 0))
	_, err := conn.roundTrip("during", 5*time.Second)
	require.Error(t, err, "the open connection is closed")
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "new connections are refused")

	require.NoError(t, p.Set(Pass, 0))
	dial(t, p).requireEcho(t, "after", "the same address serves again")
}

func TestProxyReset(t *testing.T) {
	t.Parallel()
	p := setupProxy(t)
	conn := dial(t, p)
	conn.requireEcho(t, "before")

	require.NoError(t, p.Set(Reset, 0))
	_, err := conn.roundTrip("during", 5*time.Second)
	require.ErrorIs(t, err, syscall.ECONNRESET, "the open connection is reset")
	// The reset can reach a new connection before connect returns (seen on
	// a busy machine) or at its first read.
	conn2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		t.Cleanup(func() { _ = conn2.Close() })
		_, err = (&echoConn{Conn: conn2, r: bufio.NewReader(conn2)}).roundTrip("new", 5*time.Second)
	}
	require.ErrorIs(t, err, syscall.ECONNRESET, "a new connection is reset")
}

func TestProxyBlackHole(t *testing.T) {
	t.Parallel()
	p := setupProxy(t)
	open := dial(t, p)
	open.requireEcho(t, "before")

	require.NoError(t, p.Set(BlackHole, 0))
	fresh := dial(t, p) // accepted, never forwarded
	conns := []*echoConn{open, fresh}
	for _, c := range conns {
		_, err := c.roundTrip("lost", 300*time.Millisecond)
		requireTimeout(t, err)
	}

	require.NoError(t, p.Set(Pass, 0))
	for _, c := range conns {
		c.requireLate(t, "lost", "held bytes flow once the partition heals")
	}
}

func TestProxyClose(t *testing.T) {
	t.Parallel()
	p := setupProxy(t)
	conn := dial(t, p)
	require.NoError(t, p.Close())
	_, err := conn.roundTrip("x", 5*time.Second)
	require.Error(t, err)
	require.Error(t, p.Set(Pass, 0))
}

// requireTimeout fails t unless err is a network timeout: nothing answered.
func requireTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "want a timeout, got %v", err)
}
