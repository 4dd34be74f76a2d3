package chaos

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is how a Proxy treats the connections through it.
type Mode int

// The fault modes a test switches a Proxy between.
const (
	// Pass forwards bytes both ways as they come.
	Pass Mode = iota
	// Delay forwards each chunk of bytes after the Proxy's delay.
	Delay
	// Cut closes the listening socket, so new connections are refused, and
	// closes every open connection: the service is down.
	Cut
	// Reset answers new connections and data on open ones with a TCP RST.
	Reset
	// BlackHole accepts connections and holds every byte: nothing is
	// forwarded and nothing answers, as in a network partition. Held bytes
	// flow again when the mode changes back to Pass or Delay.
	BlackHole
)

// String names the mode in logs and the summary table.
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Delay:
		return "delay"
	case Cut:
		return "cut"
	case Reset:
		return "reset"
	case BlackHole:
		return "black-hole"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Proxy is a TCP proxy between a client and one upstream address whose
// behaviour a test switches at run time, to break the network between Courier
// and a dependency without touching either.
type Proxy struct {
	addr   string // where the proxy listens, stable across Cut
	target string

	mu      sync.Mutex
	ln      net.Listener // nil while Cut
	mode    Mode
	delay   time.Duration
	changed chan struct{} // closed and replaced at every Set
	links   map[*link]struct{}
	closed  bool
	faults  int

	wg sync.WaitGroup
}

// NewProxy starts a proxy on a free loopback port that forwards to target.
func NewProxy(target string) (*Proxy, error) {
	return ListenProxy("127.0.0.1:0", target)
}

// ListenProxy starts a proxy on addr that forwards to target.
func ListenProxy(addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy to %s: listen on %s: %w", target, addr, err)
	}
	p := &Proxy{
		addr:    ln.Addr().String(),
		target:  target,
		ln:      ln,
		changed: make(chan struct{}),
		links:   map[*link]struct{}{},
	}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's host:port: give it to the client instead of the target.
func (p *Proxy) Addr() string { return p.addr }

// Faults counts the switches to a mode other than Pass.
func (p *Proxy) Faults() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Set switches the proxy to mode; delay matters for Delay only.
func (p *Proxy) Set(mode Mode, delay time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy is closed")
	}
	if mode != Pass && mode != p.mode {
		p.faults++
	}
	p.mode, p.delay = mode, delay
	close(p.changed)
	p.changed = make(chan struct{})
	switch mode {
	case Cut, Reset:
		for l := range p.links {
			l.close(mode == Reset)
		}
	}
	if mode == Cut && p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	if mode != Cut && p.ln == nil {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("proxy to %s: listen again on %s: %w", p.target, p.addr, err)
		}
		p.ln = ln
		p.serve(ln)
	}
	return nil
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for l := range p.links {
		l.close(false)
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Proxy) serve(ln net.Listener) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.open(conn)
		}
	}()
}

// state is the current mode, its delay, and a channel closed at the next Set.
func (p *Proxy) state() (Mode, time.Duration, <-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay, p.changed, p.closed
}

// open starts forwarding one accepted connection.
func (p *Proxy) open(client net.Conn) {
	l := &link{client: client, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = client.Close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.forget(l)
		// A black-holed connection waits here, accepted but never dialled on.
		if !p.await(l) {
			return
		}
		upstream, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			l.close(false)
			return
		}
		if !l.attach(upstream) {
			return
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); p.forward(l, upstream, client) }()
		go func() { defer wg.Done(); p.forward(l, client, upstream) }()
		wg.Wait()
		l.close(false)
	}()
}

func (p *Proxy) forget(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// await blocks while the proxy black-holes, sleeps in Delay, and reports
// whether l may carry bytes on.
func (p *Proxy) await(l *link) bool {
	for {
		mode, delay, changed, closed := p.state()
		if closed {
			l.close(false)
			return false
		}
		switch mode {
		case Pass:
			return true
		case Delay:
			select {
			case <-time.After(delay):
				return true
			case <-l.done:
				return false
			}
		case Cut, Reset:
			l.close(mode == Reset)
			return false
		case BlackHole:
			select {
			case <-changed:
			case <-l.done:
				return false
			}
		}
	}
}

// forward copies src to dst through the proxy's current mode. An EOF from
// src is passed on as a half-close, so the other direction can finish; any
// other end closes the whole link.
func (p *Proxy) forward(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.await(l) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				l.close(false)
				return
			}
		}
		if errors.Is(err, io.EOF) {
			if tc, ok := dst.(*net.TCPConn); ok && tc.CloseWrite() == nil {
				return
			}
		}
		if err != nil {
			l.close(false)
			return
		}
	}
}

// link is one client connection and, once dialled, its upstream connection.
type link struct {
	mu       sync.Mutex
	client   net.Conn
	upstream net.Conn
	closed   bool
	done     chan struct{}
}

// attach records the upstream connection, or closes it if the link closed
// meanwhile.
func (l *link) attach(upstream net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = upstream.Close()
		return false
	}
	l.upstream = upstream
	return true
}

// close closes both sides once; with rst the client gets a TCP RST instead
// of an orderly FIN.
func (l *link) close(rst bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	for _, c := range []net.Conn{l.client, l.upstream} {
		if c == nil {
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok && rst {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}
