package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawGRPCCaller calls idgen.v1.IDService/Next over a bare HTTP/2 connection
// with one stream at a time: the gRPC request framed by hand, the response's
// headers and trailers decoded with hpack, the IDs counted by length. It
// costs the driver far less CPU per call than a gRPC client library, for
// latency at a fixed rate. It checks the gRPC status, not the IDs. Reads
// and writes are buffered (a request is one write, a response mostly one
// read) and flow-control credit is given back in bulk, so that the driver's
// own system calls, dear on a small VM, stay few.
func rawGRPCCaller(base string, count int) func(context.Context) (int, []int64, error) {
	host := strings.TrimPrefix(base, "http://")
	body := nextRequestBody(count)
	var (
		conn    net.Conn
		bw      *bufio.Writer
		fr      *http2.Framer
		unacked uint32 // DATA bytes read but not yet given back to the connection's window
		hbuf    bytes.Buffer
		henc    = hpack.NewEncoder(&hbuf)
		dec     *hpack.Decoder
		stream  uint32
		status  string
	)
	return func(ctx context.Context) (int, []int64, error) {
		if conn == nil {
			c, err := net.Dial("tcp", host)
			if err != nil {
				return 0, nil, err
			}
			if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
				c.Close()
				return 0, nil, err
			}
			bw = bufio.NewWriterSize(c, 4<<10)
			conn, fr, stream, unacked = c, http2.NewFramer(bw, bufio.NewReaderSize(c, 64<<10)), 1, 0
			fr.ReadMetaHeaders = nil
			dec = hpack.NewDecoder(4096, func(f hpack.HeaderField) {
				if f.Name == "grpc-status" {
					status = f.Value
				}
			})
			hbuf.Reset()
			henc = hpack.NewEncoder(&hbuf)
			if err := fr.WriteSettings(); err != nil {
				return 0, nil, err
			}
		}
		flush := func() error { return bw.Flush() }
		fail := func(err error) (int, []int64, error) {
			conn.Close()
			conn = nil
			return 0, nil, err
		}
		if d, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(d)
		}
		hbuf.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/idgen.v1.IDService/Next"},
			{":authority", host}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
			_ = henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		sid := stream
		stream += 2
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: hbuf.Bytes(), EndHeaders: true}); err != nil {
			return fail(err)
		}
		if err := fr.WriteData(sid, true, body); err != nil {
			return fail(err)
		}
		if err := flush(); err != nil {
			return fail(err)
		}
		status = ""
		data := 0
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return fail(err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					if err := fr.WriteSettingsAck(); err != nil {
						return fail(err)
					}
					if err := flush(); err != nil {
						return fail(err)
					}
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					if err := fr.WritePing(true, f.Data); err != nil {
						return fail(err)
					}
					if err := flush(); err != nil {
						return fail(err)
					}
				}
			case *http2.GoAwayFrame:
				return fail(fmt.Errorf("GOAWAY: %v", f.ErrCode))
			case *http2.RSTStreamFrame:
				return fail(fmt.Errorf("RST_STREAM: %v", f.ErrCode))
			case *http2.DataFrame:
				if n := len(f.Data()); n > 0 {
					data += n
					// Give the connection's window back once a quarter of
					// the default 64 KiB is used, and a stream's when its
					// response is that large, so that neither runs out.
					unacked += uint32(n)
					if unacked >= 16<<10 {
						if err := fr.WriteWindowUpdate(0, unacked); err != nil {
							return fail(err)
						}
						unacked = 0
					}
					if !f.StreamEnded() && data >= 16<<10 {
						if err := fr.WriteWindowUpdate(f.StreamID, uint32(n)); err != nil {
							return fail(err)
						}
					}
					if bw.Buffered() > 0 {
						if err := flush(); err != nil {
							return fail(err)
						}
					}
				}
				if f.StreamEnded() && f.StreamID == sid {
					return fail(errors.New("the response ended without trailers"))
				}
			case *http2.HeadersFrame:
				if _, err := dec.Write(f.HeaderBlockFragment()); err != nil {
					return fail(err)
				}
				if !f.HeadersEnded() {
					return fail(errors.New("CONTINUATION frames are not handled"))
				}
				if f.StreamEnded() && f.StreamID == sid {
					if status != "0" {
						return 0, nil, fmt.Errorf("grpc-status %q", status)
					}
					// 5 bytes of gRPC framing, a 1- to 3-byte tag and
					// length, then 8 bytes an ID.
					if n := (data - 5) / 8; n != count {
						return 0, nil, fmt.Errorf("%d bytes of data, not %d IDs", data, count)
					}
					return count, nil, nil
				}
			}
		}
	}
}

// nextRequestBody is the body of a gRPC call of IDService/Next: the gRPC
// message frame (no compression, a 4-byte length), then
// NextRequest{count} (field 1, varint).
func nextRequestBody(count int) []byte {
	msg := []byte{0x08}
	for v := uint64(count); ; v >>= 7 {
		if v < 0x80 {
			msg = append(msg, byte(v))
			break
		}
		msg = append(msg, byte(v)|0x80)
	}
	return append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
}
