package idgen_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A program that imports only the root package gets a lean module graph:
// none of the heavy dependencies of the examples, the Prometheus package
// or the simulation (they live in modules of their own).
func TestModuleGraphIsLean(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600))
	}
	write("go.mod", "module example.com/user\n\ngo 1.25.0\n\nrequire github.com/snowlease/idgen v0.0.0\n\n"+
		"replace github.com/snowlease/idgen => "+root+"\n")
	write("main.go", "package main\n\nimport _ \"github.com/snowlease/idgen\"\n\nfunc main() {}\n")
	gocmd := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %v: %s", args, out)
		return string(out)
	}
	gocmd("mod", "tidy")
	graph := gocmd("mod", "graph")
	for _, heavy := range []string{"jackc/pgx", "prometheus", "miniredis", "gopher-lua", "connectrpc", "protobuf"} {
		require.NotContains(t, graph, heavy, "go mod graph of a program importing github.com/snowlease/idgen:\n%s", graph)
	}
	require.True(t, strings.Contains(graph, "github.com/redis/go-redis/v9"), "the graph is not empty: %s", graph)
}
