package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// runGRPCPipelined is -proto grpc-pipe: open-loop gRPC at a fixed rate
// with many calls in flight on each connection, as a real gRPC client
// multiplexes them. Each connection has a writer, which wakes when its next
// call is due and sends every call due by then in one write, and a reader,
// which takes the responses as they come. So the driver's cost per call is
// a fraction of a system call, and its own lateness (in the "from due"
// figures, not in "from send") stays small at rates that a driver waiting
// for each response cannot reach on one core. Like a real client, it keeps
// to the server's SETTINGS_MAX_CONCURRENT_STREAMS: a call due while that
// many are in flight waits for one to end (its wait counts from due, not
// from send).
func runGRPCPipelined(targets []string, count, conns int, rate float64, warmup, duration time.Duration) result {
	var (
		mu  sync.Mutex
		res result
		wg  sync.WaitGroup
	)
	res.perTarget = make([]int64, len(targets))
	start := time.Now().Add(50 * time.Millisecond)
	measureFrom, measureTo := start.Add(warmup), start.Add(warmup+duration)
	interval := time.Duration(float64(conns) / rate * float64(time.Second))
	for w := range conns {
		ti := w % len(targets)
		wg.Go(func() {
			// Connection w's calls are due at start + (w + k*conns)/rate.
			first := start.Add(time.Duration(float64(w) / rate * float64(time.Second)))
			p := pipeConn{host: strings.TrimPrefix(targets[ti], "http://"), count: count}
			r := p.run(first, interval, measureFrom, measureTo)
			mu.Lock()
			res.ok += r.ok
			res.errs += r.errs
			res.ids += r.ids
			res.perTarget[ti] += r.ids
			res.lat = append(res.lat, r.lat...)
			res.svc = append(res.svc, r.svc...)
			if res.firstErr == nil {
				res.firstErr = r.firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = duration
	return res
}

type pipeConn struct {
	host  string
	count int
}

type inflight struct {
	due, sent time.Time
	data      int
	measured  bool
}

func (p *pipeConn) run(first time.Time, interval time.Duration, from, to time.Time) result {
	var res result
	conn, err := net.Dial("tcp", p.host)
	if err != nil {
		res.errs, res.firstErr = 1, err
		return res
	}
	defer conn.Close()
	body := nextRequestBody(p.count)

	var (
		wmu     sync.Mutex // the writer and the reader's control frames
		bw      = bufio.NewWriterSize(conn, 64<<10)
		fr      = http2.NewFramer(bw, bufio.NewReaderSize(conn, 64<<10))
		hbuf    bytes.Buffer
		henc    = hpack.NewEncoder(&hbuf)
		smu     sync.Mutex
		streams = map[uint32]*inflight{}
		limit   atomic.Uint32            // the server's SETTINGS_MAX_CONCURRENT_STREAMS
		freed   = make(chan struct{}, 1) // a stream ended
		gone    = make(chan struct{})    // the reader stopped
		done    atomic.Bool
		werr    error
	)
	// HTTP/2 sets no limit until the server says; grpc-go's and Go's
	// clients assume 100 until then, and so does this one.
	limit.Store(100)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	_, err = bw.WriteString(http2.ClientPreface)
	if err == nil {
		err = fr.WriteSettings()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		res.errs, res.firstErr = 1, err
		return res
	}

	// The writer.
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		next, sid := first, uint32(1)
		for next.Before(to) {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			now := time.Now()
			full := false
			wmu.Lock()
			for ; !next.After(now) && next.Before(to); next = next.Add(interval) {
				// The stream is claimed before its headers are encoded: a
				// header block encoded and not sent would leave the HPACK
				// encoder's table ahead of the server's.
				smu.Lock()
				if full = uint32(len(streams)) >= limit.Load(); !full {
					streams[sid] = &inflight{due: next, sent: now, measured: !next.Before(from)}
				}
				smu.Unlock()
				if full {
					break
				}
				hbuf.Reset()
				for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/idgen.v1.IDService/Next"},
					{":authority", p.host}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
					_ = henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
				}
				if werr = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: hbuf.Bytes(), EndHeaders: true}); werr == nil {
					werr = fr.WriteData(sid, true, body)
				}
				if werr != nil {
					break
				}
				sid += 2
			}
			if werr == nil {
				werr = bw.Flush()
			}
			wmu.Unlock()
			if werr != nil {
				conn.Close()
				return
			}
			if full {
				select {
				case <-freed:
				case <-gone:
					return
				}
			}
		}
		// Calls still in flight get a second to finish.
		done.Store(true)
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	}()

	// The reader.
	unacked := uint32(0)
	control := func(write func() error) error {
		wmu.Lock()
		defer wmu.Unlock()
		if err := write(); err != nil {
			return err
		}
		return bw.Flush()
	}
	for {
		if done.Load() {
			smu.Lock()
			left := len(streams)
			smu.Unlock()
			if left == 0 {
				break
			}
		}
		f, err := fr.ReadFrame()
		if err != nil {
			wmu.Lock()
			if werr != nil {
				err = werr
			}
			wmu.Unlock()
			var ne net.Error
			if done.Load() && errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("calls still in flight a second after the last was sent: %w", err)
			}
			smu.Lock()
			for _, s := range streams {
				if s.measured {
					res.errs++
				}
			}
			smu.Unlock()
			if res.firstErr == nil && res.errs > 0 {
				res.firstErr = err
			}
			break
		}
		now := time.Now()
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
					limit.Store(v)
				}
				err = control(fr.WriteSettingsAck)
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				err = control(func() error { return fr.WritePing(true, f.Data) })
			}
		case *http2.GoAwayFrame:
			err = fmt.Errorf("GOAWAY: %v", f.ErrCode)
		case *http2.RSTStreamFrame:
			err = fmt.Errorf("RST_STREAM: %v", f.ErrCode)
		case *http2.DataFrame:
			n := len(f.Data())
			smu.Lock()
			if s := streams[f.StreamID]; s != nil {
				s.data += n
			}
			smu.Unlock()
			if unacked += uint32(n); unacked >= 16<<10 {
				err = control(func() error { return fr.WriteWindowUpdate(0, unacked) })
				unacked = 0
			}
		case *http2.MetaHeadersFrame:
			if !f.StreamEnded() {
				continue // the response's headers; the trailers end it
			}
			smu.Lock()
			s := streams[f.StreamID]
			delete(streams, f.StreamID)
			smu.Unlock()
			select {
			case freed <- struct{}{}:
			default:
			}
			if s == nil || !s.measured || s.due.After(to) {
				continue
			}
			var status string
			for _, hf := range f.RegularFields() {
				if hf.Name == "grpc-status" {
					status = hf.Value
				}
			}
			if n := (s.data - 5) / 8; status != "0" || n != p.count {
				res.errs++
				if res.firstErr == nil {
					res.firstErr = fmt.Errorf("grpc-status %q, %d bytes of data", status, s.data)
				}
				continue
			}
			res.ok++
			res.ids += int64(p.count)
			res.lat = append(res.lat, now.Sub(s.due))
			res.svc = append(res.svc, now.Sub(s.sent))
		}
		if err != nil {
			res.errs++
			if res.firstErr == nil {
				res.firstErr = err
			}
			break
		}
	}
	close(gone)
	conn.Close()
	<-writerDone
	return res
}
