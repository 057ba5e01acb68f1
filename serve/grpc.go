package serve

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	idgenv1 "github.com/snowlease/idgen/serve/gen/idgen/v1"
	"github.com/snowlease/idgen/serve/gen/idgen/v1/idgenv1connect"
)

// newGRPCServer is the grpc-go server that Serve gives the connections
// whose first request is gRPC: the same IDService, health and reflection
// as Handler serves through connect-go, with the same limits and metrics.
func (s *Server) newGRPCServer() *grpc.Server {
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxRequestBytes),
		// As net/http's HTTP/2 server: calls in flight per connection.
		grpc.MaxConcurrentStreams(250),
		// HTTP/2's default flow-control windows, fixed. grpc-go's dynamic
		// window (its default) sends a PING with nearly every request to
		// estimate the link's bandwidth-delay product: a second round
		// trip per call, for requests of at most 4 KiB that gain nothing
		// from a larger window.
		grpc.StaticStreamWindowSize(h2DefaultWindow),
		grpc.StaticConnWindowSize(h2DefaultWindow),
		grpc.ChainUnaryInterceptor(s.m.grpcInterceptor),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idleTimeout}),
	)
	idgenv1.RegisterIDServiceServer(gs, grpcIDs{s: s})
	healthpb.RegisterHealthServer(gs, grpcHealth{s: s})
	// Reflection lists what connect-go's reflector lists: the service and
	// health, not reflection itself.
	listed := reflection.ServerOptions{Services: listedServices{gs}}
	reflectv1.RegisterServerReflectionServer(gs, reflection.NewServerV1(listed))
	reflectv1alpha.RegisterServerReflectionServer(gs, reflection.NewServer(listed))
	return gs
}

type listedServices struct{ gs *grpc.Server }

func (l listedServices) GetServiceInfo() map[string]grpc.ServiceInfo {
	all := l.gs.GetServiceInfo()
	return map[string]grpc.ServiceInfo{
		idgenv1connect.IDServiceName:            all[idgenv1connect.IDServiceName],
		healthpb.Health_ServiceDesc.ServiceName: all[healthpb.Health_ServiceDesc.ServiceName],
	}
}

type grpcIDs struct {
	idgenv1.UnimplementedIDServiceServer
	s *Server
}

func (g grpcIDs) Next(ctx context.Context, req *idgenv1.NextRequest) (*idgenv1.NextResponse, error) {
	res, err := g.s.next(req)
	if err != nil {
		return nil, err.grpc(ctx)
	}
	return res, nil
}

func (g grpcIDs) Decode(ctx context.Context, req *idgenv1.DecodeRequest) (*idgenv1.DecodeResponse, error) {
	res, err := g.s.decode(req)
	if err != nil {
		return nil, err.grpc(ctx)
	}
	return res, nil
}

func (e *rpcError) grpc(ctx context.Context) error {
	if e.retryAfter != "" {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("retry-after", e.retryAfter, "grpc-retry-pushback-ms", e.pushbackMs))
	}
	return status.Error(codes.Code(e.code), e.msg)
}

// grpcHealth is health's Check, with the same answers as the connect-go
// handler's; Watch and List answer UNIMPLEMENTED.
type grpcHealth struct {
	healthpb.UnimplementedHealthServer
	s *Server
}

func (h grpcHealth) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	switch req.GetService() {
	case "", idgenv1connect.IDServiceName:
	default:
		return nil, status.Error(codes.NotFound, fmt.Sprintf("unknown service %q", req.GetService()))
	}
	if h.s.Ready() != nil {
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, nil
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// grpcInterceptor counts RPCs and their latency by procedure and code, as
// the connect-go interceptor does (codes by connect-go's names: "ok",
// "unavailable", ...).
func (m *serverMetrics) grpcInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	res, err := handler(ctx, req)
	code := "ok"
	if err != nil {
		code = connect.Code(status.Code(err)).String()
	}
	m.rpc(info.FullMethod, code, time.Since(start))
	return res, err
}
