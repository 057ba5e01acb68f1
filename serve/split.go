package serve

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// SplitGRPC splits the connections that l accepts in two: HTTP/2
// connections whose first request is gRPC (content-type application/grpc,
// not gRPC-Web) come out of grpcL, every other connection (HTTP/1.x, and
// HTTP/2 whose first request is anything else) out of httpL. Serve runs a
// grpc.Server on the first and an http.Server on the second, so that gRPC
// takes grpc-go's HTTP/2 transport: it answers a unary call in one write,
// where net/http's server takes three writes and four reads (see
// docs/design.md, "The service").
//
// To see the first request of an HTTP/2 connection, SplitGRPC answers the
// client's preface with an empty SETTINGS frame (gRPC clients wait for
// one before they send a request) and removes the client's
// acknowledgement of it from what the chosen server reads; everything
// else reaches that server byte for byte. A connection that sends no
// request within timeout is closed.
//
// Closing either returned listener does not close l; closing l makes both
// return net.ErrClosed and closes the connections still under inspection.
// Accept on both must be called (by their servers), or connections wait.
func SplitGRPC(l net.Listener, timeout time.Duration) (grpcL, httpL net.Listener) {
	g, h := newConnQueue(l.Addr()), newConnQueue(l.Addr())
	go func() {
		// Once l stops, connections still under inspection are closed:
		// their put finds the queues stopped.
		defer g.Close()
		defer h.Close()
		var delay time.Duration
		for {
			c, err := l.Accept()
			if err != nil {
				var te interface{ Temporary() bool }
				if errors.As(err, &te) && te.Temporary() {
					// Out of file descriptors and the like: back off, as
					// net/http does.
					delay = min(max(2*delay, 5*time.Millisecond), time.Second)
					time.Sleep(delay)
					continue
				}
				g.stop(err)
				h.stop(err)
				return
			}
			delay = 0
			go func() {
				isGRPC, conn, err := classify(c, timeout)
				switch {
				case err != nil:
					c.Close()
				case isGRPC:
					g.put(conn)
				default:
					h.put(conn)
				}
			}()
		}
	}()
	return g, h
}

// maxSniff bounds what classify reads of an HTTP/2 connection before its
// first request: the preface, a few control frames, one header block.
const maxSniff = 64 << 10

// settingsFrame is an empty SETTINGS frame: length 0, type 4, no flags,
// stream 0.
var settingsFrame = []byte{0, 0, 0, 4, 0, 0, 0, 0, 0}

// classify reads the start of c: the HTTP/2 client preface or not, and for
// HTTP/2 the frames up to the first request's header block. It returns
// the connection to hand over, which reads from the start again.
func classify(c net.Conn, timeout time.Duration) (isGRPC bool, _ net.Conn, _ error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return false, nil, err
	}
	br := bufio.NewReaderSize(c, 4<<10)
	// Byte by byte, so that a short HTTP/1.0 request is not waited on.
	for i := 1; i <= len(http2.ClientPreface); i++ {
		b, err := br.Peek(i)
		if err != nil {
			return false, nil, err
		}
		if b[i-1] != http2.ClientPreface[i-1] {
			if err := c.SetReadDeadline(time.Time{}); err != nil {
				return false, nil, err
			}
			return false, &splitConn{Conn: c, r: br}, nil
		}
	}
	if err := c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return false, nil, err
	}
	if _, err := c.Write(settingsFrame); err != nil {
		return false, nil, err
	}
	var seen bytes.Buffer
	isGRPC, err := firstRequestIsGRPC(io.TeeReader(io.LimitReader(br, maxSniff), &seen))
	if err != nil && seen.Len() < maxSniff {
		return false, nil, err
	}
	// Past maxSniff the connection is net/http's to judge.
	if err := c.SetDeadline(time.Time{}); err != nil {
		return false, nil, err
	}
	r := &ackFilter{r: io.MultiReader(&seen, br), pass: len(http2.ClientPreface)}
	return isGRPC, &splitConn{Conn: c, r: r}, nil
}

// firstRequestIsGRPC reads an HTTP/2 client's stream (preface first) up to
// its first header block and says whether its content-type is gRPC's.
func firstRequestIsGRPC(r io.Reader) (bool, error) {
	if _, err := io.ReadFull(r, make([]byte, len(http2.ClientPreface))); err != nil {
		return false, err
	}
	fr := http2.NewFramer(io.Discard, r)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 16 << 10
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return false, err
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			var ct string
			for _, hf := range h.RegularFields() {
				if hf.Name == "content-type" {
					ct = hf.Value
				}
			}
			return isGRPCContentType(ct), nil
		}
	}
}

// isGRPCContentType is true for application/grpc and application/grpc+*
// (and ;parameters), false for gRPC-Web's application/grpc-web*.
func isGRPCContentType(ct string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(ct), "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// ackFilter passes an HTTP/2 client's stream through but for the first
// SETTINGS acknowledgement, which answers classify's SETTINGS frame and
// would confuse the server that never sent it. It reads frame headers
// whole and passes payloads through as they come.
type ackFilter struct {
	r       io.Reader
	pass    int // bytes to pass on before the next frame header
	hdr     [9]byte
	pending []byte // the part of a frame header not yet returned
	done    bool   // the acknowledgement is gone: pass everything
	frames  int
}

// maxFilteredFrames: a client that has not acknowledged the SETTINGS frame
// within this many frames never will (it breaks the protocol); the filter
// steps aside.
const maxFilteredFrames = 1000

func (f *ackFilter) Read(p []byte) (int, error) {
	for {
		if len(f.pending) > 0 {
			n := copy(p, f.pending)
			f.pending = f.pending[n:]
			return n, nil
		}
		if f.done {
			return f.r.Read(p)
		}
		if f.pass > 0 {
			n, err := f.r.Read(p[:min(len(p), f.pass)])
			f.pass -= n
			return n, err
		}
		if n, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
			if n == 0 {
				return 0, err
			}
			// A cut-off frame header: passed on as it is, for the server
			// to judge.
			f.pending, f.done = f.hdr[:n], true
			continue
		}
		length := int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
		typ, flags, stream := http2.FrameType(f.hdr[3]), http2.Flags(f.hdr[4]), binary.BigEndian.Uint32(f.hdr[5:])&(1<<31-1)
		f.frames++
		if typ == http2.FrameSettings && flags.Has(http2.FlagSettingsAck) && length == 0 && stream == 0 {
			f.done = true
			continue
		}
		f.done = f.frames >= maxFilteredFrames
		f.pass = length
		f.pending = f.hdr[:]
	}
}

// splitConn is an accepted connection whose reads start over from what
// classify read.
type splitConn struct {
	net.Conn
	r io.Reader
}

func (c *splitConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connQueue is a net.Listener fed by SplitGRPC.
type connQueue struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	err  error // why l stopped; written before done is closed
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) put(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		c.Close()
	}
}

// stop ends Accept with err (net.ErrClosed when nil or a closed l).
func (q *connQueue) stop(err error) {
	q.once.Do(func() {
		q.err = err
		close(q.done)
	})
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		if q.err != nil && !errors.Is(q.err, net.ErrClosed) {
			return nil, q.err
		}
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.stop(nil)
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
