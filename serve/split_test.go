package serve_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/serve"
	idgenv1 "github.com/snowlease/idgen/serve/gen/idgen/v1"
)

// h2Start is an HTTP/2 client's first bytes: the preface, SETTINGS, and
// the headers of a POST with content-type ct.
func h2Start(t *testing.T, ct string) []byte {
	t.Helper()
	var buf, hb bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	require.NoError(t, fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}))
	require.NoError(t, fr.WriteWindowUpdate(0, 1<<20))
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/idgen.v1.IDService/Next"},
		{":authority", "x"}, {"content-type", ct}, {"te", "trailers"}} {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	require.NoError(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}))
	return buf.Bytes()
}

// settingsAck is a client's acknowledgement of a SETTINGS frame.
var settingsAck = []byte{0, 0, 0, 4, 1, 0, 0, 0, 0}

type split struct {
	l            net.Listener
	grpcL, httpL net.Listener
	got          chan accepted
}

type accepted struct {
	side string
	conn net.Conn
}

func newSplit(t *testing.T, timeout time.Duration) *split {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &split{l: l, got: make(chan accepted, 8)}
	s.grpcL, s.httpL = serve.SplitGRPC(l, timeout)
	for side, sl := range map[string]net.Listener{"grpc": s.grpcL, "http": s.httpL} {
		go func() {
			for {
				c, err := sl.Accept()
				if err != nil {
					return
				}
				s.got <- accepted{side, c}
			}
		}()
	}
	t.Cleanup(func() { l.Close() })
	return s
}

func (s *split) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *split) next(t *testing.T) accepted {
	t.Helper()
	select {
	case a := <-s.got:
		t.Cleanup(func() { a.conn.Close() })
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no connection came out of SplitGRPC")
		return accepted{}
	}
}

// readN reads exactly n bytes from c within a few seconds.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	require.NoError(t, err)
	return b
}

// Each kind of connection comes out on its side, and the server reads
// exactly what the client sent, less the acknowledgement of the SETTINGS
// frame that SplitGRPC sent it.
func TestSplitGRPCRoutes(t *testing.T) {
	t.Parallel()
	s := newSplit(t, 5*time.Second)
	for _, tc := range []struct {
		name, ct, side string
	}{
		{"grpc", "application/grpc", "grpc"},
		{"grpc+proto", "application/grpc+proto", "grpc"},
		{"grpc with a parameter, upper case", "Application/GRPC; charset=utf-8", "grpc"},
		{"grpc-web", "application/grpc-web+proto", "http"},
		{"connect", "application/proto", "http"},
		{"json", "application/json", "http"},
		{"no content type", "", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t)
			start := h2Start(t, tc.ct)
			_, err := c.Write(start)
			require.NoError(t, err)
			// The client is sent an empty SETTINGS frame, and acknowledges it.
			assert.Equal(t, []byte{0, 0, 0, 4, 0, 0, 0, 0, 0}, readN(t, c, 9))
			more := []byte{0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8} // a PING
			_, err = c.Write(append(append(settingsAck, more...), settingsAck...))
			require.NoError(t, err)

			a := s.next(t)
			assert.Equal(t, tc.side, a.side)
			want := append(append(start, more...), settingsAck...) // the second ACK is not SplitGRPC's
			assert.Equal(t, want, readN(t, a.conn, len(want)))
		})
	}
}

func TestSplitGRPCHTTP1(t *testing.T) {
	t.Parallel()
	s := newSplit(t, 5*time.Second)
	for _, req := range []string{
		"GET /v1/ids HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n", // shorter than the HTTP/2 preface
		"PRI * HTTP/1.1\r\n\r\n", // starts like it
		"POST /v1/ids HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
	} {
		c := s.dial(t)
		_, err := c.Write([]byte(req))
		require.NoError(t, err)
		a := s.next(t)
		assert.Equal(t, "http", a.side, "%q", req)
		assert.Equal(t, req, string(readN(t, a.conn, len(req))))
	}
}

// A connection that does not show what it is within the timeout is
// closed, and does not hold up the others.
func TestSplitGRPCTimeout(t *testing.T) {
	t.Parallel()
	s := newSplit(t, 300*time.Millisecond)
	silent := s.dial(t)
	p := s.dial(t)
	_, err := p.Write([]byte("P")) // the start of the preface, or of POST
	require.NoError(t, err)
	half := s.dial(t)
	_, err = half.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)

	c := s.dial(t)
	_, err = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	require.NoError(t, err)
	assert.Equal(t, "http", s.next(t).side)

	for _, c := range []net.Conn{silent, p, half} {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err := io.ReadAll(c) // the SETTINGS frame for half, then EOF
		require.NoError(t, err, "closed by SplitGRPC, not by the deadline")
	}
	select {
	case a := <-s.got:
		t.Fatalf("a connection came out on %s", a.side)
	default:
	}
}

func TestSplitGRPCClose(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	grpcL, httpL := serve.SplitGRPC(l, time.Second)
	assert.Equal(t, l.Addr(), grpcL.Addr())
	require.NoError(t, l.Close())
	for _, sl := range []net.Listener{grpcL, httpL} {
		_, err := sl.Accept()
		assert.ErrorIs(t, err, net.ErrClosed)
	}
}

// Serve and Shutdown: requests over both transports, then a graceful stop
// that refuses new connections and ends Serve with http.ErrServerClosed.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	srv := newServer(t, idgentest.New(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	base := "http://" + l.Addr().String()

	require.Equal(t, 200, do(t, "GET", base+"/v1/ids").code)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	var res idgenv1.NextResponse
	require.NoError(t, conn.Invoke(t.Context(), "/idgen.v1.IDService/Next", &idgenv1.NextRequest{Count: 3}, &res))
	require.Len(t, res.GetIds(), 3)
	assert.ErrorContains(t, srv.Serve(l), "Serve called twice")

	srv.Drain()
	require.NoError(t, srv.Shutdown(t.Context()))
	select {
	case err := <-served:
		require.ErrorIs(t, err, http.ErrServerClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	_, err = net.DialTimeout("tcp", l.Addr().String(), time.Second)
	require.Error(t, err, "the port is closed")
	require.ErrorIs(t, srv.Serve(l), http.ErrServerClosed)
	require.NoError(t, srv.Close())
}

// Shutdown bounded by its context: a request that does not finish in time
// is cut off, and Shutdown says so.
func TestServeShutdownTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, idgentest.New(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	// An HTTP/1.1 request whose headers never end keeps its connection
	// active until the read-header timeout, longer than Shutdown waits.
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET /v1/ids HTTP/1.1\r\nHost: x\r\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return do(t, "GET", "http://"+l.Addr().String()+"/livez").code == 200 },
		5*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = srv.Shutdown(ctx)
	require.True(t, errors.Is(err, ctx.Err()), "%v", err)
}

// A unary gRPC call through Serve, framed by hand: the answer (headers,
// message, trailers) comes without the server sending a PING or a
// WINDOW_UPDATE. grpc-go's dynamic flow-control window would ask the
// client for a PING on nearly every call, a second round trip and two more
// frames to handle on each side; requests of at most 4 KiB have no use
// for a window larger than HTTP/2's default.
func TestGRPCCallFrames(t *testing.T) {
	t.Parallel()
	srv := newServer(t, idgentest.New(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))

	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for call := uint32(1); call <= 3; call++ {
		stream := 2*call - 1
		if call == 1 {
			_, err = c.Write(h2Start(t, "application/grpc"))
		} else {
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/idgen.v1.IDService/Next"},
				{":authority", "x"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
				require.NoError(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
			}
			err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hb.Bytes(), EndHeaders: true})
		}
		require.NoError(t, err)
		// NextRequest{count: 3} in a gRPC frame.
		require.NoError(t, fr.WriteData(stream, true, []byte{0, 0, 0, 0, 2, 8, 3}))

		var frames []string
		var httpStatus, status string
		var message []byte
		for status == "" {
			f, err := fr.ReadFrame()
			require.NoError(t, err, "frames so far: %v", frames)
			frames = append(frames, f.Header().Type.String())
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					require.NoError(t, fr.WriteSettingsAck())
				}
			case *http2.DataFrame:
				message = append(message, f.Data()...)
			case *http2.MetaHeadersFrame:
				if s := f.PseudoValue("status"); s != "" {
					httpStatus = s
				}
				if f.StreamEnded() {
					status = httpStatus + " grpc-status " + headerValue(f, "grpc-status")
				}
			}
		}
		assert.Equal(t, "200 grpc-status 0", status, "call %d", call)
		var res idgenv1.NextResponse
		require.Greater(t, len(message), 5, "call %d", call)
		require.NoError(t, proto.Unmarshal(message[5:], &res))
		assert.Len(t, res.GetIds(), 3, "call %d", call)
		assert.NotContains(t, frames, "PING", "call %d", call)
		assert.NotContains(t, frames, "WINDOW_UPDATE", "call %d", call)
	}
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, h := range f.RegularFields() {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}
