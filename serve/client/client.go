// Package client is a Go client of the idgen service (`idgen serve`): it
// asks for IDs over gRPC (or the Connect protocol), in batches, and retries
// while the service says it cannot issue for a moment (UNAVAILABLE, with a
// Retry-After) or cannot be reached.
//
// The IDs are the service's: unique across every replica of the service and
// every program that embeds the library on the same namespace. Next hands
// out IDs from a batch fetched earlier, so IDs from one Client increase only
// while it talks to one server; across a load balancer they are unique but
// not in order.
//
// A Client is safe for concurrent use.
package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	idgenv1 "github.com/snowlease/idgen/serve/gen/idgen/v1"
	"github.com/snowlease/idgen/serve/gen/idgen/v1/idgenv1connect"
	"github.com/snowlease/idgen/snowflake"
)

// Protocol is how the Client talks to the service.
type Protocol int

const (
	// GRPC is gRPC over HTTP/2 (cleartext for http:// URLs). The default.
	GRPC Protocol = iota
	// Connect is the Connect protocol (binary protobuf) over HTTP/1.1 or
	// HTTP/2: for proxies that do not pass gRPC.
	Connect
)

// Options configure a Client. The zero value is the default for every
// field.
type Options struct {
	// HTTPClient makes the requests. Default: one that speaks HTTP/2 without
	// TLS to http:// URLs (as gRPC needs) and HTTP/1.1 or HTTP/2 with TLS to
	// https:// URLs.
	HTTPClient *http.Client
	// Protocol: GRPC (default) or Connect.
	Protocol Protocol
	// Batch is how many IDs Next fetches in one call and hands out one by
	// one, 1 to 10,000. Default 100; 1 asks the service for every ID.
	Batch int
	// MaxAge is how long fetched IDs may wait in the batch; older ones are
	// dropped (never reused) so that an ID's time stays close to when it
	// was handed out. Default 1 s.
	MaxAge time.Duration
	// RetryFor bounds how long a call retries while the service cannot
	// issue or cannot be reached, when ctx has no earlier deadline.
	// Default 10 s; -1 turns retries off.
	RetryFor time.Duration
	// MaxRetryWait caps one wait between retries (the service's Retry-After
	// is honoured up to this). Default 2 s.
	MaxRetryWait time.Duration
}

// ErrInvalidOptions is matched by every error New returns for bad Options.
var ErrInvalidOptions = errors.New("client: invalid options")

// MaxBatch is the most IDs one call may ask for (the service's default
// limit).
const MaxBatch = 10_000

// Client asks an idgen service for IDs.
type Client struct {
	rpc  idgenv1connect.IDServiceClient
	opts Options

	mu      sync.Mutex
	buf     []snowflake.ID
	fetched time.Time
}

// New returns a Client of the service at baseURL ("http://host:8080").
func New(baseURL string, opts Options) (*Client, error) {
	if !strings.HasPrefix(baseURL, "http://") && !strings.HasPrefix(baseURL, "https://") {
		return nil, fmt.Errorf("%w: base URL %q: want http://host:port or https://host:port", ErrInvalidOptions, baseURL)
	}
	switch {
	case opts.Batch == 0:
		opts.Batch = 100
	case opts.Batch < 1 || opts.Batch > MaxBatch:
		return nil, fmt.Errorf("%w: Batch is %d, allowed 1 to %d", ErrInvalidOptions, opts.Batch, MaxBatch)
	}
	switch {
	case opts.MaxAge == 0:
		opts.MaxAge = time.Second
	case opts.MaxAge < 0:
		return nil, fmt.Errorf("%w: MaxAge is %v, must be positive", ErrInvalidOptions, opts.MaxAge)
	}
	switch {
	case opts.RetryFor == 0:
		opts.RetryFor = 10 * time.Second
	case opts.RetryFor < -1:
		return nil, fmt.Errorf("%w: RetryFor is %v, allowed -1 (no retries) or positive", ErrInvalidOptions, opts.RetryFor)
	}
	switch {
	case opts.MaxRetryWait == 0:
		opts.MaxRetryWait = 2 * time.Second
	case opts.MaxRetryWait < 0:
		return nil, fmt.Errorf("%w: MaxRetryWait is %v, must be positive", ErrInvalidOptions, opts.MaxRetryWait)
	}
	if opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP2(true)
		if opts.Protocol == GRPC {
			// Without HTTP/1, http:// URLs get HTTP/2 with prior knowledge.
			tr.Protocols.SetUnencryptedHTTP2(true)
		} else {
			tr.Protocols.SetHTTP1(true)
		}
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	var copts []connect.ClientOption
	switch opts.Protocol {
	case GRPC:
		copts = append(copts, connect.WithGRPC())
	case Connect:
	default:
		return nil, fmt.Errorf("%w: Protocol is %d, allowed GRPC or Connect", ErrInvalidOptions, opts.Protocol)
	}
	return &Client{rpc: idgenv1connect.NewIDServiceClient(opts.HTTPClient, baseURL, copts...), opts: opts}, nil
}

// Next returns one new ID, from the current batch or a new one.
func (c *Client) Next(ctx context.Context) (snowflake.ID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) == 0 || time.Since(c.fetched) > c.opts.MaxAge {
		ids, err := c.fetch(ctx, c.opts.Batch)
		if err != nil {
			return 0, err
		}
		c.buf, c.fetched = ids, time.Now()
	}
	id := c.buf[0]
	c.buf = c.buf[1:]
	return id, nil
}

// NextN returns n new, increasing IDs (1 to MaxBatch) in one call,
// bypassing the batch Next uses.
func (c *Client) NextN(ctx context.Context, n int) ([]snowflake.ID, error) {
	if n < 1 || n > MaxBatch {
		return nil, fmt.Errorf("client: n is %d, allowed 1 to %d", n, MaxBatch)
	}
	return c.fetch(ctx, n)
}

// Decoded is an ID split into its parts by the service's layout.
type Decoded struct {
	ID       snowflake.ID
	Time     time.Time
	Tick     int64
	Worker   int64
	Sequence int64
}

// Decode asks the service to split id into its parts.
func (c *Client) Decode(ctx context.Context, id snowflake.ID) (Decoded, error) {
	var res *connect.Response[idgenv1.DecodeResponse]
	err := c.retry(ctx, func(ctx context.Context) (err error) {
		res, err = c.rpc.Decode(ctx, connect.NewRequest(&idgenv1.DecodeRequest{Id: id.Int64()}))
		return err
	})
	if err != nil {
		return Decoded{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, res.Msg.GetTime())
	if err != nil {
		return Decoded{}, fmt.Errorf("client: the service sent a bad time %q: %w", res.Msg.GetTime(), err)
	}
	return Decoded{
		ID: snowflake.ID(res.Msg.GetId()), Time: t,
		Tick: res.Msg.GetTick(), Worker: res.Msg.GetWorker(), Sequence: res.Msg.GetSequence(),
	}, nil
}

func (c *Client) fetch(ctx context.Context, n int) ([]snowflake.ID, error) {
	var res *connect.Response[idgenv1.NextResponse]
	err := c.retry(ctx, func(ctx context.Context) (err error) {
		res, err = c.rpc.Next(ctx, connect.NewRequest(&idgenv1.NextRequest{Count: uint32(n)}))
		return err
	})
	if err != nil {
		return nil, err
	}
	got := res.Msg.GetIds()
	if len(got) != n {
		return nil, fmt.Errorf("client: asked for %d IDs, the service sent %d", n, len(got))
	}
	ids := make([]snowflake.ID, n)
	for i, v := range got {
		if v <= 0 || (i > 0 && v <= got[i-1]) {
			return nil, fmt.Errorf("client: the service sent a bad batch (ID %d is %d after %d)", i, v, got[max(i-1, 0)])
		}
		ids[i] = snowflake.ID(v)
	}
	return ids, nil
}

// retry calls f until it succeeds, fails for good, or the retry budget or
// ctx ends. UNAVAILABLE (the service cannot issue now, or was not reached)
// and a reset stream are retried; the wait is the service's Retry-After
// when it sent one, else a back-off from 50 ms, each capped by
// MaxRetryWait and jittered.
func (c *Client) retry(ctx context.Context, f func(context.Context) error) error {
	if c.opts.RetryFor > 0 {
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > c.opts.RetryFor {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.opts.RetryFor)
			defer cancel()
		}
	}
	backoff := 50 * time.Millisecond
	var last error // the last retryable error
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil && last != nil {
			// The budget ran out during an attempt: say why the calls
			// before it failed.
			return fmt.Errorf("client: %w (last error: %w)", ctx.Err(), last)
		}
		code := connect.CodeOf(err)
		if c.opts.RetryFor < 0 || (code != connect.CodeUnavailable && code != connect.CodeAborted) {
			return fmt.Errorf("client: %w", err)
		}
		last = err
		wait := backoff
		backoff = min(2*backoff, c.opts.MaxRetryWait)
		var ce *connect.Error
		if errors.As(err, &ce) {
			if s, err := strconv.Atoi(ce.Meta().Get("Retry-After")); err == nil && s >= 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		wait = min(wait, c.opts.MaxRetryWait)
		wait = wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("client: %w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
