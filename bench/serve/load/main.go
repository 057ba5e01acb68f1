// Command load drives an idgen service (or the bare baseline) over HTTP/JSON
// or gRPC and reports requests/s, IDs/s and latency percentiles. With
// -rate it sends at a fixed rate (open loop: a late response does not delay
// the next request, and latency is measured from when the request was due),
// otherwise as fast as -c workers can. With -check it keeps every ID and
// fails on a duplicate.
//
//	load -url http://127.0.0.1:8080 -proto grpc -count 1000 -c 16 -d 10s
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	idgenv1 "github.com/snowlease/idgen/serve/gen/idgen/v1"
	"github.com/snowlease/idgen/serve/gen/idgen/v1/idgenv1connect"
)

func main() {
	var (
		urls     = flag.String("url", "http://127.0.0.1:8080", "comma-separated base URLs; workers spread over them")
		proto    = flag.String("proto", "http", "http (GET /v1/ids with net/http's client, HTTP/1.1 keep-alive), http-raw (the same request over a bare TCP connection: far less driver CPU, for latency at a fixed rate) grpc (connect-go's client, h2c) grpc-raw (hand-framed gRPC over a bare HTTP/2 connection, one call at a time per connection, for latency at a fixed rate) or grpc-pipe (hand-framed gRPC with many calls in flight per connection, sent in bursts as they fall due; needs -rate; for latency at rates a one-at-a-time driver cannot reach)")
		count    = flag.Int("count", 1, "IDs per request")
		workers  = flag.Int("c", 16, "concurrent requests (and connections)")
		duration = flag.Duration("d", 10*time.Second, "how long to measure")
		warmup   = flag.Duration("warmup", time.Second, "load before measuring, not counted")
		rate     = flag.Float64("rate", 0, "requests per second in all (0: as fast as possible)")
		check    = flag.Bool("check", false, "keep every ID and fail on a duplicate")
		label    = flag.String("label", "", "name printed with the result")
		dump     = flag.String("dump", "", "with -check: also write every ID to this file (8 bytes each, little-endian)")
		verify   = flag.String("verify", "", "only read the comma-separated -dump files and count duplicates across them")
	)
	flag.Parse()
	if *verify != "" {
		os.Exit(verifyFiles(strings.Split(*verify, ",")))
	}
	if *count < 1 || *workers < 1 || *duration <= 0 || *rate < 0 {
		fmt.Fprintln(os.Stderr, "load: -count and -c must be positive, -d positive, -rate not negative")
		os.Exit(2)
	}
	targets := strings.Split(*urls, ",")
	var res result
	if *proto == "grpc-pipe" {
		if *rate == 0 || *check {
			fmt.Fprintln(os.Stderr, "load: -proto grpc-pipe needs -rate, and does not -check")
			os.Exit(2)
		}
		res = runGRPCPipelined(targets, *count, *workers, *rate, *warmup, *duration)
	} else {
		res = runCallers(targets, *proto, *count, *workers, *rate, *warmup, *duration, *check)
	}
	res.print(*label, *proto, *count, *workers, *rate)
	if len(targets) > 1 {
		for i, t := range targets {
			fmt.Printf("  %s: %d IDs\n", t, res.perTarget[i])
		}
	}
	if *dump != "" {
		if err := writeIDs(*dump, res.all); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
	}
	if res.dups > 0 || res.errs > 0 && res.ok == 0 {
		os.Exit(1)
	}
}

// runCallers runs -c workers, each with a caller of its own for proto.
func runCallers(targets []string, proto string, count, workers int, rate float64, warmup, duration time.Duration, check bool) result {
	call := make([]func(context.Context) (int, []int64, error), workers)
	targetOf = make([]int, workers)
	for w := range call {
		base := targets[w%len(targets)]
		targetOf[w] = w % len(targets)
		switch proto {
		case "http":
			call[w] = httpCaller(base, count, check)
		case "http-raw":
			call[w] = rawCaller(base, count, check)
		case "grpc":
			call[w] = grpcCaller(base, count)
		case "grpc-raw":
			call[w] = rawGRPCCaller(base, count)
		default:
			fmt.Fprintf(os.Stderr, "load: -proto is %q, allowed http, http-raw, grpc, grpc-raw or grpc-pipe\n", proto)
			os.Exit(2)
		}
	}
	return run(call, rate, warmup, duration, check)
}

// httpCaller asks GET /v1/ids over its own HTTP/1.1 keep-alive connection.
func httpCaller(base string, count int, check bool) func(context.Context) (int, []int64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	c := &http.Client{Transport: tr}
	u := base + "/v1/ids?count=" + strconv.Itoa(count)
	if check {
		u += "&format=text"
	}
	var buf bytes.Buffer
	return func(ctx context.Context) (int, []int64, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return 0, nil, err
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		buf.Reset()
		_, err = buf.ReadFrom(res.Body)
		res.Body.Close()
		if err != nil {
			return 0, nil, err
		}
		if res.StatusCode != 200 {
			return 0, nil, fmt.Errorf("status %d: %s", res.StatusCode, bytes.TrimSpace(buf.Bytes()))
		}
		if !check {
			return count, nil, nil
		}
		var ids []int64
		for _, f := range strings.Fields(buf.String()) {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return 0, nil, fmt.Errorf("bad ID %q", f)
			}
			ids = append(ids, v)
		}
		return len(ids), ids, nil
	}
}

// grpcCaller calls idgen.v1.IDService/Next over its own HTTP/2 connection.
func grpcCaller(base string, count int) func(context.Context) (int, []int64, error) {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	c := idgenv1connect.NewIDServiceClient(&http.Client{Transport: tr}, base, connect.WithGRPC())
	req := &idgenv1.NextRequest{Count: uint32(count)}
	return func(ctx context.Context) (int, []int64, error) {
		res, err := c.Next(ctx, connect.NewRequest(req))
		if err != nil {
			return 0, nil, err
		}
		return len(res.Msg.GetIds()), res.Msg.GetIds(), nil
	}
}

// targetOf is the base URL index of each worker.
var targetOf []int

type result struct {
	elapsed  time.Duration
	ok, errs int64
	ids      int64
	dups     int
	checked  int
	all      []int64
	// perTarget counts the IDs from each base URL.
	perTarget []int64
	lat       []time.Duration // from when each request was due
	svc       []time.Duration // from when it was sent
	firstErr  error
}

func run(call []func(context.Context) (int, []int64, error), rate float64, warmup, duration time.Duration, check bool) result {
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		seq       atomic.Int64
		mu        sync.Mutex
		res       result
		all       []int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	var measureStart time.Time
	res.perTarget = make([]int64, len(targetOf))
	for w, f := range call {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<16)
			svc := make([]time.Duration, 0, 1<<16)
			var mine []int64
			var ok, errs, ids int64
			var firstErr error
			for !stop.Load() {
				due := time.Now()
				if rate > 0 {
					due = start.Add(time.Duration(float64(seq.Add(1)-1) / rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				sent := time.Now()
				n, got, err := f(ctx)
				cancel()
				end := time.Now()
				d := end.Sub(due)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				ok++
				ids += int64(n)
				lat = append(lat, d)
				svc = append(svc, end.Sub(sent))
				if check {
					mine = append(mine, got...)
				}
			}
			mu.Lock()
			res.ok += ok
			res.errs += errs
			res.ids += ids
			res.perTarget[targetOf[w]] += ids
			res.lat = append(res.lat, lat...)
			res.svc = append(res.svc, svc...)
			all = append(all, mine...)
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		})
	}
	time.Sleep(warmup)
	measureStart = time.Now()
	measuring.Store(true)
	time.Sleep(duration)
	measuring.Store(false)
	res.elapsed = time.Since(measureStart)
	stop.Store(true)
	wg.Wait()
	// Duplicates are counted after the measurement, so that checking costs
	// the driver nothing while it measures.
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			res.dups++
		}
	}
	res.checked = len(all)
	res.all = all
	return res
}

func (r result) print(label, proto string, count, workers int, rate float64) {
	slices.Sort(r.lat)
	pct := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
	}
	secs := r.elapsed.Seconds()
	mode := "saturation"
	if rate > 0 {
		mode = fmt.Sprintf("rate %.0f/s", rate)
	}
	fmt.Printf("%s proto=%s count=%d c=%d %s: %.0f req/s, %.0f IDs/s, p50 %v, p99 %v, p99.9 %v, max %v, errors %d, duplicates %d\n",
		label, proto, count, workers, mode, float64(r.ok)/secs, float64(r.ids)/secs,
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(0.999).Round(time.Microsecond),
		pct(1).Round(time.Microsecond), r.errs, r.dups)
	if rate > 0 {
		// At a fixed rate a request is due before it is sent; the
		// difference is the driver's own lateness (a busy driver core),
		// which the latency above counts and this one does not.
		slices.Sort(r.svc)
		spct := func(p float64) time.Duration {
			if len(r.svc) == 0 {
				return 0
			}
			return r.svc[min(len(r.svc)-1, int(p*float64(len(r.svc))))]
		}
		fmt.Printf("  from send: p50 %v, p99 %v, p99.9 %v\n", spct(0.50).Round(time.Microsecond),
			spct(0.99).Round(time.Microsecond), spct(0.999).Round(time.Microsecond))
	}
	if r.checked > 0 {
		fmt.Printf("  checked %d IDs: %d duplicates\n", r.checked, r.dups)
	}
	if r.firstErr != nil {
		msg := r.firstErr.Error()
		if errors.Is(r.firstErr, io.EOF) {
			msg = "EOF"
		}
		fmt.Printf("  first error: %s\n", msg)
	}
}

func writeIDs(path string, ids []int64) error {
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(id))
	}
	return os.WriteFile(path, b, 0o644)
}

func verifyFiles(paths []string) int {
	var all []int64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			return 1
		}
		for i := 0; i+8 <= len(b); i += 8 {
			all = append(all, int64(binary.LittleEndian.Uint64(b[i:])))
		}
	}
	slices.Sort(all)
	dups := 0
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			dups++
		}
	}
	fmt.Printf("verify: %d IDs in %d files, %d duplicates\n", len(all), len(paths), dups)
	if dups > 0 || len(all) == 0 {
		return 1
	}
	return 0
}

// rawCaller sends GET /v1/ids over a bare keep-alive TCP connection and
// reads the response by its Content-Length: the same bytes on the wire as
// net/http's client, at a fraction of its CPU per request.
func rawCaller(base string, count int, check bool) func(context.Context) (int, []int64, error) {
	host := strings.TrimPrefix(base, "http://")
	path := "/v1/ids?count=" + strconv.Itoa(count)
	if check {
		path += "&format=text"
	}
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	var (
		conn net.Conn
		br   *bufio.Reader
		body []byte
	)
	return func(ctx context.Context) (int, []int64, error) {
		if conn == nil {
			c, err := net.Dial("tcp", host)
			if err != nil {
				return 0, nil, err
			}
			conn, br = c, bufio.NewReaderSize(c, 64<<10)
		}
		fail := func(err error) (int, []int64, error) {
			conn.Close()
			conn = nil
			return 0, nil, err
		}
		if d, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(d)
		}
		if _, err := conn.Write(req); err != nil {
			return fail(err)
		}
		status, length := 0, -1
		for first := true; ; first = false {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return fail(err)
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				break
			}
			if first {
				if len(line) < 12 {
					return fail(fmt.Errorf("bad status line %q", line))
				}
				status, _ = strconv.Atoi(string(line[9:12]))
				continue
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if length < 0 {
			return fail(errors.New("no Content-Length"))
		}
		if cap(body) < length {
			body = make([]byte, length)
		}
		body = body[:length]
		if _, err := io.ReadFull(br, body); err != nil {
			return fail(err)
		}
		if status != 200 {
			return 0, nil, fmt.Errorf("status %d: %s", status, bytes.TrimSpace(body))
		}
		if !check {
			return count, nil, nil
		}
		var ids []int64
		for _, f := range strings.Fields(string(body)) {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return 0, nil, fmt.Errorf("bad ID %q", f)
			}
			ids = append(ids, v)
		}
		return len(ids), ids, nil
	}
}
