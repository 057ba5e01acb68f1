package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// `go install github.com/snowlease/idgen/cmd/idgen@latest` refuses a module
// whose go.mod has replace directives, and needs released versions of the
// project's other modules: the workspace (go.work) points them at the
// checkout instead.
func TestGoModInstallable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	mod := string(b)
	require.NotRegexp(t, regexp.MustCompile(`(?m)^\s*replace\b`), mod, "cmd/idgen/go.mod must not replace (go install @latest refuses it); go.work does that for the checkout")
	n := 0
	for line := range strings.Lines(mod) {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[0], "github.com/snowlease/idgen") {
			n++
			require.Regexp(t, `^v\d+\.\d+\.\d+$`, f[1], "%s must be required at a release version", f[0])
		}
	}
	require.GreaterOrEqual(t, n, 3, "the root, metrics and serve modules are required")
}
