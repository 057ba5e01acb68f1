package serve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	idgenv1 "github.com/snowlease/idgen/serve/gen/idgen/v1"
	"github.com/snowlease/idgen/serve/gen/idgen/v1/idgenv1connect"
	"github.com/snowlease/idgen/snowflake"
)

// rpc implements idgen.v1.IDService.
type rpc struct {
	idgenv1connect.UnimplementedIDServiceHandler
	s *Server
}

func (h *rpc) Next(_ context.Context, req *connect.Request[idgenv1.NextRequest]) (*connect.Response[idgenv1.NextResponse], error) {
	res, err := h.s.next(req.Msg)
	if err != nil {
		return nil, err.connect()
	}
	return connect.NewResponse(res), nil
}

func (h *rpc) Decode(_ context.Context, req *connect.Request[idgenv1.DecodeRequest]) (*connect.Response[idgenv1.DecodeResponse], error) {
	res, err := h.s.decode(req.Msg)
	if err != nil {
		return nil, err.connect()
	}
	return connect.NewResponse(res), nil
}

// next and decode are idgen.v1.IDService's methods, whichever transport
// carries them (connect-go's handler or grpc-go's server).
func (s *Server) next(req *idgenv1.NextRequest) (*idgenv1.NextResponse, *rpcError) {
	n := int(req.GetCount())
	if n == 0 {
		n = 1
	}
	if n > s.opts.MaxCount {
		return nil, &rpcError{code: connect.CodeInvalidArgument,
			msg: fmt.Sprintf("count is %d, allowed 1 to %d", req.GetCount(), s.opts.MaxCount)}
	}
	b := s.getBuffers(n)
	defer s.putBuffers(b)
	if err := s.issue(b.ids); err != nil {
		return nil, &rpcError{code: connect.CodeUnavailable, msg: unavailableMessage(err),
			retryAfter: s.retry, pushbackMs: s.retryMs}
	}
	// The response keeps its slice, so that one is not pooled.
	out := make([]int64, n)
	for i, id := range b.ids {
		out[i] = id.Int64()
	}
	return &idgenv1.NextResponse{Ids: out}, nil
}

func (s *Server) decode(req *idgenv1.DecodeRequest) (*idgenv1.DecodeResponse, *rpcError) {
	d, err := Decode(s.layout, snowflake.ID(req.GetId()))
	if err != nil {
		return nil, &rpcError{code: connect.CodeInvalidArgument,
			msg: fmt.Sprintf("%d is not an ID of this server's layout: %v", req.GetId(), err)}
	}
	return &idgenv1.DecodeResponse{
		Id:       req.GetId(),
		Time:     d.Time,
		Tick:     d.Tick,
		Worker:   d.Worker,
		Sequence: d.Sequence,
	}, nil
}

// rpcError is an RPC's failure before it takes a transport's shape. An
// UNAVAILABLE one says when to retry, as metadata: retry-after (seconds,
// as HTTP) and grpc-retry-pushback-ms (what gRPC clients with a retry
// policy read).
type rpcError struct {
	code       connect.Code // the same numbers as gRPC's codes
	msg        string
	retryAfter string // empty but for UNAVAILABLE
	pushbackMs string
}

func (e *rpcError) connect() error {
	ce := connect.NewError(e.code, errors.New(e.msg))
	if e.retryAfter != "" {
		ce.Meta().Set("Retry-After", e.retryAfter)
		ce.Meta().Set("Grpc-Retry-Pushback-Ms", e.pushbackMs)
	}
	return ce
}

// health answers grpc.health.v1.Health/Check from readiness: SERVING while
// IDs can be issued now, NOT_SERVING otherwise (starting, recovering,
// draining). The empty service name and idgen.v1.IDService are known.
type health struct{ s *Server }

func (h health) Check(_ context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	switch req.Service {
	case "", idgenv1connect.IDServiceName:
	default:
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown service %q", req.Service))
	}
	if h.s.Ready() != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

// interceptor counts RPCs and their latency by procedure and code.
func (m *serverMetrics) interceptor() connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			res, err := next(ctx, req)
			code := "ok"
			if err != nil {
				code = connect.CodeOf(err).String()
			}
			m.rpc(req.Spec().Procedure, code, time.Since(start))
			return res, err
		}
	})
}
