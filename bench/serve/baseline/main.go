// Command baseline is what the idgen service is measured against: the same
// server set-up as `idgen serve` (one port; serve.SplitGRPC hands gRPC
// connections to a grpc-go server and the rest to net/http, HTTP/1.1 and
// HTTP/2 cleartext) with bare handlers: GET /v1/ids writes a constant, and
// idgen.v1.IDService/Next returns constant IDs (over grpc-go, and over
// connect-go for the Connect protocol and gRPC-Web). Whatever the service
// costs above this is idgen's own work: the generator, the encoding, the
// routing, the metrics. It keeps the same heap floor as `idgen serve`
// (--heap-floor), so the two collect garbage alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/snowlease/idgen/internal/heapfloor"
	"github.com/snowlease/idgen/serve"
	idgenv1 "github.com/snowlease/idgen/serve/gen/idgen/v1"
	"github.com/snowlease/idgen/serve/gen/idgen/v1/idgenv1connect"
)

type constant struct {
	idgenv1connect.UnimplementedIDServiceHandler
	ids []int64
}

func (c *constant) Next(_ context.Context, req *connect.Request[idgenv1.NextRequest]) (*connect.Response[idgenv1.NextResponse], error) {
	n := max(1, int(req.Msg.GetCount()))
	if n > len(c.ids) {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("count is %d, allowed 1 to %d", n, len(c.ids)))
	}
	return connect.NewResponse(&idgenv1.NextResponse{Ids: c.ids[:n]}), nil
}

// constantGRPC is the same for grpc-go.
type constantGRPC struct {
	idgenv1.UnimplementedIDServiceServer
	ids []int64
}

func (c *constantGRPC) Next(_ context.Context, req *idgenv1.NextRequest) (*idgenv1.NextResponse, error) {
	n := max(1, int(req.GetCount()))
	if n > len(c.ids) {
		return nil, status.Errorf(codes.InvalidArgument, "count is %d, allowed 1 to %d", n, len(c.ids))
	}
	return &idgenv1.NextResponse{Ids: c.ids[:n]}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	split := flag.Bool("split", true, "gRPC connections to grpc-go (as idgen serve); false: everything through net/http and connect-go (as serve.Server.Handler)")
	heapFloor := flag.Uint64("heap-floor", 32, "MiB of heap before the garbage collector collects, as idgen serve's --heap-floor (the same default)")
	flag.Parse()
	defer heapfloor.Set(*heapFloor << 20)()
	const id = 2127594828810203136
	ids := make([]int64, 10_000)
	for i := range ids {
		ids[i] = id + int64(i)
	}
	one := []byte(`{"ids":["` + strconv.FormatInt(id, 10) + `"]}` + "\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/ids", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("count") != "" && r.URL.Query().Get("count") != "1" {
			http.Error(w, "the baseline serves count=1 only", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(one)))
		_, _ = w.Write(one)
	})
	mux.Handle(idgenv1connect.NewIDServiceHandler(&constant{ids: ids}))
	hs := &http.Server{Addr: *addr, Handler: mux, Protocols: new(http.Protocols)}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	fmt.Fprintf(os.Stderr, "baseline: listening on %s\n", strings.TrimPrefix(*addr, "http://"))
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	if *split {
		// As idgen serve's: calls in flight per connection, and the
		// flow-control windows fixed at HTTP/2's default (so grpc-go sends
		// no bandwidth-estimating PINGs).
		gs := grpc.NewServer(grpc.MaxConcurrentStreams(250),
			grpc.StaticStreamWindowSize(1<<16-1), grpc.StaticConnWindowSize(1<<16-1))
		idgenv1.RegisterIDServiceServer(gs, &constantGRPC{ids: ids})
		var gl net.Listener
		gl, l = serve.SplitGRPC(l, 10*time.Second)
		go func() { _ = gs.Serve(gl) }()
	}
	if err := hs.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}
