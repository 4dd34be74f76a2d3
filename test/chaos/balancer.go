package chaos

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Balancer is the TCP load balancer a production Temporal cluster puts in
// front of its frontends: each new connection goes to the next frontend that
// accepts it, so clients reconnect to a live node when one dies.
type Balancer struct {
	ln        net.Listener
	upstreams []string
	next      atomic.Uint64
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
}

// NewBalancer listens on a free loopback port in front of upstreams.
func NewBalancer(upstreams ...string) (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Balancer{ln: ln, upstreams: upstreams, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

// Addr is where clients dial.
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// Close stops accepting and closes every connection.
func (b *Balancer) Close() error {
	err := b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
	return err
}

func (b *Balancer) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.serve(c)
		}()
	}
}

// serve pipes c to the first upstream, from the next in turn, that accepts.
func (b *Balancer) serve(c net.Conn) {
	defer c.Close()
	start := b.next.Add(1)
	var up net.Conn
	for i := range b.upstreams {
		addr := b.upstreams[(int(start)+i)%len(b.upstreams)]
		var err error
		if up, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	b.track(c, up)
	defer b.untrack(c, up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (b *Balancer) track(conns ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range conns {
		b.conns[c] = struct{}{}
	}
}

func (b *Balancer) untrack(conns ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range conns {
		delete(b.conns, c)
	}
}
