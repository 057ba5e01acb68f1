package serve

import (
	"context"
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
	s := h.s
	n := int(req.Msg.GetCount())
	if n == 0 {
		n = 1
	}
	if n > s.opts.MaxCount {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("count is %d, allowed 1 to %d", req.Msg.GetCount(), s.opts.MaxCount))
	}
	b := s.getBuffers(n)
	defer s.putBuffers(b)
	if err := s.issue(b.ids); err != nil {
		return nil, s.unavailableError(err)
	}
	// The response keeps its slice, so that one is not pooled.
	out := make([]int64, n)
	for i, id := range b.ids {
		out[i] = id.Int64()
	}
	return connect.NewResponse(&idgenv1.NextResponse{Ids: out}), nil
}

func (h *rpc) Decode(_ context.Context, req *connect.Request[idgenv1.DecodeRequest]) (*connect.Response[idgenv1.DecodeResponse], error) {
	id := snowflake.ID(req.Msg.GetId())
	d, err := Decode(h.s.layout, id)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("%d is not an ID of this server's layout: %w", req.Msg.GetId(), err))
	}
	return connect.NewResponse(&idgenv1.DecodeResponse{
		Id:       req.Msg.GetId(),
		Time:     d.Time,
		Tick:     d.Tick,
		Worker:   d.Worker,
		Sequence: d.Sequence,
	}), nil
}

// unavailableError is UNAVAILABLE with the reason, and when to retry in
// the metadata: retry-after (seconds, as HTTP) and grpc-retry-pushback-ms
// (what gRPC clients with a retry policy read).
func (s *Server) unavailableError(err error) error {
	e := connect.NewError(connect.CodeUnavailable, fmt.Errorf("%s", unavailableMessage(err)))
	e.Meta().Set("Retry-After", s.retry)
	e.Meta().Set("Grpc-Retry-Pushback-Ms", s.retryMs)
	return e
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
