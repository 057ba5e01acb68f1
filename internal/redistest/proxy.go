package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Direction is a direction of traffic through a Proxy.
type Direction int

const (
	// Upstream is client to server: requests.
	Upstream Direction = 1 << iota
	// Downstream is server to client: replies.
	Downstream
	// Both is Upstream and Downstream.
	Both = Upstream | Downstream
)

// Proxy is a TCP proxy on a free loopback port that forwards every
// connection to a target and injects faults: latency, held replies, dropped
// connections and blackholed traffic. It is safe for concurrent use.
//
// Each connection costs four goroutines and at most 16 buffered chunks of
// 16 KiB per direction; when a direction cannot deliver (held, slow reader),
// the proxy stops reading and TCP pushes back. Close ends every goroutine.
type Proxy struct {
	Addr string // where clients connect

	ln     net.Listener
	ctx    context.Context // ends at Close, for dials to the target
	cancel context.CancelFunc
	wg     sync.WaitGroup
	active atomic.Int64 // running goroutines, for tests of Close

	up, down atomic.Int64 // bytes delivered

	mu      sync.Mutex
	target  string
	latency [2]time.Duration // by dirIndex
	held    bool
	cut     Direction
	changed chan struct{} // closed and replaced on every state change
	links   map[*link]struct{}
	closed  bool
}

// NewProxy starts a proxy to target ("host:port") and closes it when the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		Addr:    ln.Addr().String(),
		ln:      ln,
		ctx:     ctx,
		cancel:  cancel,
		target:  target,
		changed: make(chan struct{}),
		links:   make(map[*link]struct{}),
	}
	p.spawn(p.accept)
	t.Cleanup(p.Close)
	return p
}

func (p *Proxy) spawn(f func()) {
	p.wg.Add(1)
	p.active.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.active.Add(-1)
		f()
	}()
}

func dirIndex(d Direction) int {
	if d == Upstream {
		return 0
	}
	return 1
}

// update changes the fault state under the lock and wakes waiting writers.
func (p *Proxy) update(f func()) {
	p.mu.Lock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// SetLatency delays every chunk of traffic in the given directions by d
// (0 removes the delay). It applies to data read from now on; order is kept.
func (p *Proxy) SetLatency(dir Direction, d time.Duration) {
	p.update(func() {
		for _, x := range []Direction{Upstream, Downstream} {
			if dir&x != 0 {
				p.latency[dirIndex(x)] = d
			}
		}
	})
}

// Hold stops delivering replies (server to client) until Release or
// Restore. Requests still reach the server and run; their replies wait,
// in order, and none is lost.
func (p *Proxy) Hold() { p.update(func() { p.held = true }) }

// Release delivers the held replies and ends Hold.
func (p *Proxy) Release() { p.update(func() { p.held = false }) }

// Cut blackholes traffic in the given directions: connections stay open and
// new ones are accepted, but the bytes are read and thrown away, like
// packets lost in a partition. It adds to directions already cut.
func (p *Proxy) Cut(dir Direction) { p.update(func() { p.cut |= dir }) }

// Restore ends every fault: no latency, no hold (held replies are
// delivered), no cut. Connections that lost bytes to a cut are closed, since
// their streams can no longer be parsed; the client reconnects.
func (p *Proxy) Restore() {
	var broken []*link
	p.update(func() {
		p.latency = [2]time.Duration{}
		p.held = false
		p.cut = 0
		for l := range p.links {
			if l.lost.Load() {
				broken = append(broken, l)
			}
		}
	})
	for _, l := range broken {
		l.close()
	}
}

// Drop closes every current connection (both sides) and returns how many
// there were. New connections are accepted as usual.
func (p *Proxy) Drop() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	return len(links)
}

// SetTarget makes new connections go to addr; current ones stay.
func (p *Proxy) SetTarget(addr string) { p.update(func() { p.target = addr }) }

// Conns returns the number of open connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Forwarded returns the bytes delivered so far upstream and downstream
// (bytes thrown away by a cut are not counted).
func (p *Proxy) Forwarded() (up, down int64) { return p.up.Load(), p.down.Load() }

// Close stops listening, closes every connection and waits for the proxy's
// goroutines to end. It is idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		p.cancel()
		_ = p.ln.Close()
		p.Drop()
	}
	p.wg.Wait()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary errors such as EMFILE: back off a little.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.spawn(func() { p.serve(c) })
	}
}

// link is one proxied connection.
type link struct {
	p              *Proxy
	client, server net.Conn
	done           chan struct{}
	once           sync.Once
	lost           atomic.Bool // a cut threw bytes away
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.server.Close()
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	})
}

func (p *Proxy) serve(client net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	server, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
	cancel()
	if err != nil {
		_ = client.Close()
		return
	}
	l := &link{p: p, client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = client.Close()
		_ = server.Close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	upCh, downCh := make(chan chunk, 16), make(chan chunk, 16)
	p.spawn(func() { l.read(client, upCh, Upstream) })
	p.spawn(func() { l.read(server, downCh, Downstream) })
	p.spawn(func() { l.write(server, upCh, Upstream) })
	l.write(client, downCh, Downstream)
}

type chunk struct {
	b   []byte
	due time.Time
}

// read moves bytes from src into ch, stamped with when they may be
// delivered; it closes ch when src ends.
func (l *link) read(src net.Conn, ch chan<- chunk, dir Direction) {
	defer close(ch)
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.p.mu.Lock()
			lat := l.p.latency[dirIndex(dir)]
			l.p.mu.Unlock()
			select {
			case ch <- chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(lat)}:
			case <-l.done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// write delivers chunks from ch to dst when they are due, honouring cut and
// hold as they stand at delivery time. When ch ends, the link closes.
func (l *link) write(dst net.Conn, ch <-chan chunk, dir Direction) {
	defer l.close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var c chunk
		var ok bool
		select {
		case c, ok = <-ch:
			if !ok {
				return
			}
		case <-l.done:
			return
		}
		if d := time.Until(c.due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-l.done:
				return
			}
		}
		for {
			l.p.mu.Lock()
			cut := l.p.cut&dir != 0
			held := l.p.held && dir == Downstream
			changed := l.p.changed
			l.p.mu.Unlock()
			if cut {
				l.lost.Store(true)
				break
			}
			if held {
				select {
				case <-changed:
					continue
				case <-l.done:
					return
				}
			}
			if _, err := dst.Write(c.b); err != nil {
				return
			}
			if dir == Upstream {
				l.p.up.Add(int64(len(c.b)))
			} else {
				l.p.down.Add(int64(len(c.b)))
			}
			break
		}
	}
}

func (d Direction) String() string {
	switch d {
	case Upstream:
		return "upstream"
	case Downstream:
		return "downstream"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}
