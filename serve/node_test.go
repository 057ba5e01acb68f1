package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/serve"
	idgenv1 "github.com/snowlease/idgen/serve/gen/idgen/v1"
	"github.com/snowlease/idgen/snowflake"
)

// nodeDir holds the Node client: package.json, package-lock.json (exact
// versions) and client.mjs. `make deps` installs its node_modules.
const nodeDir = "testdata/node"

// nodeOutput is what client.mjs prints. 64-bit numbers are decimal strings.
type nodeOutput struct {
	GRPC struct {
		IDs                []snowflake.ID `json:"ids"`
		Decode             rpcDecoded     `json:"decode"`
		Health             string         `json:"health"`
		HealthService      string         `json:"healthService"`
		UnknownServiceCode int            `json:"unknownServiceCode"`
		TooMany            struct {
			Code    int    `json:"code"`
			Details string `json:"details"`
		} `json:"tooMany"`
	} `json:"grpc"`
	Connect struct {
		IDs     []snowflake.ID `json:"ids"`
		Decode  rpcDecoded     `json:"decode"`
		TooMany connectErr     `json:"tooMany"`
	} `json:"connect"`
	HTTP struct {
		IDs    []snowflake.ID `json:"ids"`
		Decode serve.Decoded  `json:"decode"`
		Bad    struct {
			Status int               `json:"status"`
			Body   map[string]string `json:"body"`
		} `json:"bad"`
	} `json:"http"`
	Unavailable *struct {
		GRPC struct {
			Code       int    `json:"code"`
			Details    string `json:"details"`
			RetryAfter string `json:"retryAfter"`
			Health     string `json:"health"`
		} `json:"grpc"`
		Connect connectErr `json:"connect"`
		HTTP    struct {
			Status     int               `json:"status"`
			RetryAfter string            `json:"retryAfter"`
			Body       map[string]string `json:"body"`
		} `json:"http"`
		Readyz int `json:"readyz"`
	} `json:"unavailable"`
}

type rpcDecoded struct {
	ID       string `json:"id"`
	Time     string `json:"time"`
	Tick     int64  `json:"tick,string"`
	Worker   int64  `json:"worker,string"`
	Sequence int64  `json:"sequence,string"`
}

func (d rpcDecoded) decoded() serve.Decoded {
	return serve.Decoded{ID: d.ID, Time: d.Time, Tick: d.Tick, Worker: d.Worker, Sequence: d.Sequence}
}

type connectErr struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter string `json:"retryAfter"`
}

// Clients this project did not write, in Node: @grpc/grpc-js (gRPC over
// HTTP/2 cleartext, the service loaded from the .proto at run time, and
// grpc.health.v1), @connectrpc/connect-node (the Connect protocol, JSON over
// HTTP/1.1) and fetch, against a server on a real Generator leasing its
// worker ID from a real redis-server, and against one that cannot issue.
func TestNodeClient(t *testing.T) {
	t.Parallel()
	node := nodeInstall(t)

	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	opts := idgen.Options{Namespace: "serve-node"}
	require.NoError(t, idgen.Init(t.Context(), client, opts), "so that the first ID needs no quarantine")
	gen, err := idgen.New(t.Context(), client, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = gen.Close(context.Background()) })
	base := start(t, newServer(t, gen))

	closed := idgentest.New(t)
	require.NoError(t, closed.Close(t.Context()))
	unavailable := start(t, newServer(t, closed))

	out := runNode(t, node, base, unavailable)

	// Every ID distinct and increasing, call after call, from the leased
	// worker ID.
	g := out.GRPC
	require.Len(t, g.IDs, 1000)
	require.Len(t, out.Connect.IDs, 1000)
	require.Len(t, out.HTTP.IDs, 5)
	all := append(append(append([]snowflake.ID{}, g.IDs...), out.Connect.IDs...), out.HTTP.IDs...)
	requireIncreasing(t, all)
	for _, id := range all {
		require.Equal(t, gen.WorkerID(), snowflake.Twitter().Decompose(id).Worker, "ID %d", id)
	}

	// Decode agrees with the server's own over all three.
	for _, c := range []struct {
		name string
		id   snowflake.ID
		got  serve.Decoded
	}{
		{"grpc", g.IDs[0], g.Decode.decoded()},
		{"connect", out.Connect.IDs[0], out.Connect.Decode.decoded()},
		{"http", out.HTTP.IDs[0], out.HTTP.Decode},
	} {
		want, err := serve.Decode(snowflake.Twitter(), c.id)
		require.NoError(t, err)
		assert.Equal(t, want, c.got, c.name)
	}

	assert.Equal(t, "SERVING", g.Health)
	assert.Equal(t, "SERVING", g.HealthService)
	assert.Equal(t, 5, g.UnknownServiceCode, "NOT_FOUND for a service the server does not have")
	assert.Equal(t, 3, g.TooMany.Code, "INVALID_ARGUMENT")
	assert.Contains(t, g.TooMany.Details, "count is 10001, allowed 1 to 10000")
	assert.Equal(t, "InvalidArgument", out.Connect.TooMany.Code)
	assert.Contains(t, out.Connect.TooMany.Message, "count is 10001, allowed 1 to 10000")
	assert.Equal(t, 400, out.HTTP.Bad.Status)
	assert.Contains(t, out.HTTP.Bad.Body["error"], "allowed 1 to 10000")

	// The server that cannot issue: UNAVAILABLE / 503 with Retry-After, no
	// ID, and health NOT_SERVING.
	u := out.Unavailable
	require.NotNil(t, u)
	assert.Equal(t, 14, u.GRPC.Code, "UNAVAILABLE: %s", u.GRPC.Details)
	assert.Contains(t, u.GRPC.Details, "cannot issue IDs")
	assert.Equal(t, "1", u.GRPC.RetryAfter)
	assert.Equal(t, "NOT_SERVING", u.GRPC.Health)
	assert.Equal(t, "Unavailable", u.Connect.Code)
	assert.Contains(t, u.Connect.Message, "cannot issue IDs")
	assert.Equal(t, "1", u.Connect.RetryAfter)
	assert.Equal(t, 503, u.HTTP.Status)
	assert.Equal(t, "1", u.HTTP.RetryAfter)
	assert.Contains(t, u.HTTP.Body["error"], "cannot issue IDs")
	assert.Equal(t, 503, u.Readyz)
}

// nodeInstall returns node's path once testdata/node/node_modules holds
// what package-lock.json pins, running `npm ci` when it does not. A missing
// node or npm fails the test: the client in another language is part of
// what the service promises.
func nodeInstall(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "the Node client test needs Node.js 20 or later and npm on PATH: "+
		"install them (apt-get install -y nodejs npm, or from https://nodejs.org) and run make deps")
	if installed(t) {
		return node
	}
	npm, err := exec.LookPath("npm")
	require.NoError(t, err, "node_modules is missing or stale and npm is not on PATH: "+
		"install npm (apt-get install -y npm) and run make deps")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = nodeDir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "npm ci in serve/%s (make deps runs it too; the npm registry must be reachable):\n%s", nodeDir, out)
	require.True(t, installed(t), "npm ci did not leave node_modules matching package-lock.json")
	return node
}

// installed reports whether node_modules matches package-lock.json: npm
// writes the packages it installed to node_modules/.package-lock.json.
func installed(t *testing.T) bool {
	t.Helper()
	type lock struct {
		Packages map[string]json.RawMessage `json:"packages"`
	}
	read := func(path string) (lock, error) {
		var l lock
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &l)
		}
		return l, err
	}
	want, err := read(filepath.Join(nodeDir, "package-lock.json"))
	require.NoError(t, err)
	delete(want.Packages, "") // the project itself
	have, err := read(filepath.Join(nodeDir, "node_modules", ".package-lock.json"))
	if err != nil || len(have.Packages) != len(want.Packages) {
		return false
	}
	for name, w := range want.Packages {
		var a, b any
		if json.Unmarshal(w, &a) != nil || json.Unmarshal(have.Packages[name], &b) != nil || !reflect.DeepEqual(a, b) {
			return false
		}
	}
	return true
}

// runNode runs client.mjs against base and unavailable and parses what it
// prints. The schema it needs besides the .proto (grpc.health.v1, and the
// descriptors the Connect client reads) is written from the Go registry.
func runNode(t *testing.T, node, base, unavailable string) nodeOutput {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(idgenv1.File_idgen_v1_idgen_proto),
		protodesc.ToFileDescriptorProto(healthpb.File_grpc_health_v1_health_proto),
	}}
	b, err := proto.Marshal(set)
	require.NoError(t, err)
	descriptors := filepath.Join(t.TempDir(), "descriptors.binpb")
	require.NoError(t, os.WriteFile(descriptors, b, 0o600))

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "client.mjs", base, descriptors, unavailable)
	cmd.Dir = nodeDir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "node client.mjs:\n%s", stderr.String())

	var out nodeOutput
	dec := json.NewDecoder(strings.NewReader(stdout.String()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&out), "node client.mjs printed:\n%s", stdout.String())
	return out
}
