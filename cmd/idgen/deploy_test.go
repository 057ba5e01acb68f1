package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
)

// The container image and the Kubernetes example are checked against the
// command they run: their syntax, and that what they say agrees with what
// `idgen serve` does.
const (
	repoRoot   = "../.."
	dockerfile = repoRoot + "/Dockerfile"
	k8sDir     = repoRoot + "/deploy/kubernetes"
)

// --- Dockerfile ---

// dockerInstruction is one instruction of a Dockerfile, its continuation
// lines joined.
type dockerInstruction struct {
	line    int // where it starts, from 1
	keyword string
	args    string
}

var dockerKeywords = []string{
	"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
	"VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}

// parseDockerfile splits a Dockerfile into instructions: comment and blank
// lines dropped (also inside continued instructions, as Docker does),
// lines ending in a backslash joined to the next. Heredocs are refused (this
// parser does not follow them). Unknown or lower-case keywords, a
// continuation at the end of the file, and an instruction with no
// arguments are errors.
func parseDockerfile(src string) ([]dockerInstruction, error) {
	var out []dockerInstruction
	var cur *dockerInstruction
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		cont := strings.HasSuffix(trimmed, `\`)
		text := strings.TrimSpace(strings.TrimSuffix(trimmed, `\`))
		if cur == nil {
			keyword, args, _ := strings.Cut(text, " ")
			if !slices.Contains(dockerKeywords, keyword) {
				return nil, fmt.Errorf("line %d: %q is not a Dockerfile instruction (upper case: %s)", i+1, keyword, strings.Join(dockerKeywords, " "))
			}
			cur = &dockerInstruction{line: i + 1, keyword: keyword, args: strings.TrimSpace(args)}
		} else {
			cur.args = strings.TrimSpace(cur.args + " " + text)
		}
		if strings.Contains(cur.args, "<<") && (cur.keyword == "RUN" || cur.keyword == "COPY") {
			return nil, fmt.Errorf("line %d: heredocs are not checked here: use a plain %s", cur.line, cur.keyword)
		}
		if !cont {
			if cur.args == "" {
				return nil, fmt.Errorf("line %d: %s without arguments", cur.line, cur.keyword)
			}
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: %s continues past the end of the file", cur.line, cur.keyword)
	}
	return out, nil
}

// dockerImage is what the checks need to know of a Dockerfile.
type dockerImage struct {
	stages     int
	buildRuns  []string // the RUNs of every stage but the last
	finalUser  string
	finalCopy  []string // the final stage's COPY --from=... sources and destinations
	expose     []string
	entrypoint []string
	cmd        []string
}

// checkDockerfile parses src and checks what an image of the idgen command
// must be: at least two stages (a build and a small final one), a static
// build (CGO_ENABLED=0, -trimpath) of ./cmd/idgen, a final stage that runs
// as a numeric non-root user and copies the binary from an earlier stage,
// an exec-form ENTRYPOINT that is that binary, and an exec-form CMD.
func checkDockerfile(src string) (dockerImage, error) {
	instrs, err := parseDockerfile(src)
	if err != nil {
		return dockerImage{}, err
	}
	var img dockerImage
	var names []string
	finalStart := -1
	for i, in := range instrs {
		if in.keyword == "FROM" {
			img.stages++
			finalStart = i
			f := strings.Fields(in.args)
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				names = append(names, f[2])
			} else if len(f) != 1 && !(len(f) == 2 && strings.HasPrefix(f[0], "--platform=")) {
				return img, fmt.Errorf("line %d: FROM %s: want FROM image [AS name]", in.line, in.args)
			}
			continue
		}
		if img.stages == 0 && in.keyword != "ARG" {
			return img, fmt.Errorf("line %d: %s before the first FROM", in.line, in.keyword)
		}
	}
	if img.stages < 2 {
		return img, fmt.Errorf("%d stage(s): want a build stage and a final stage", img.stages)
	}
	for i, in := range instrs {
		final := i > finalStart
		switch in.keyword {
		case "RUN":
			if !final {
				img.buildRuns = append(img.buildRuns, in.args)
			}
		case "USER":
			if final {
				img.finalUser = in.args
			}
		case "COPY":
			if from, ok := strings.CutPrefix(in.args, "--from="); ok {
				stage, _, _ := strings.Cut(from, " ")
				if !slices.Contains(names, stage) {
					return img, fmt.Errorf("line %d: COPY --from=%s: no stage of that name (stages: %v)", in.line, stage, names)
				}
				if final {
					img.finalCopy = append(img.finalCopy, strings.Fields(in.args)[1:]...)
				}
			}
		case "EXPOSE":
			img.expose = append(img.expose, strings.Fields(in.args)...)
		case "ENTRYPOINT", "CMD":
			var exec []string
			if err := json.Unmarshal([]byte(in.args), &exec); err != nil || len(exec) == 0 {
				return img, fmt.Errorf("line %d: %s %s: want the exec form, a JSON array of strings", in.line, in.keyword, in.args)
			}
			if in.keyword == "CMD" {
				img.cmd = exec
			} else {
				img.entrypoint = exec
			}
		}
	}
	build := strings.Join(img.buildRuns, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "go build", "./cmd/idgen"} {
		if !strings.Contains(build, want) {
			return img, fmt.Errorf("the build stages' RUNs have no %q: the binary must be static and reproducible", want)
		}
	}
	uid, _, _ := strings.Cut(img.finalUser, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		return img, fmt.Errorf("the final stage's USER is %q: want a numeric non-root user (Kubernetes verifies runAsNonRoot only for a numeric one)", img.finalUser)
	}
	if len(img.entrypoint) != 1 || path.Base(img.entrypoint[0]) != "idgen" {
		return img, fmt.Errorf("ENTRYPOINT %q: want the idgen binary alone", img.entrypoint)
	}
	if !slices.Contains(img.finalCopy, img.entrypoint[0]) {
		return img, fmt.Errorf("the final stage does not COPY --from a build stage to %s", img.entrypoint[0])
	}
	if img.cmd == nil {
		return img, errors.New("no CMD: want the default arguments, serve --addr :PORT")
	}
	return img, nil
}

// The checker fails on what it is meant to catch.
func TestDockerfileChecker(t *testing.T) {
	t.Parallel()
	good := `# syntax=docker/dockerfile:1
ARG V=1
FROM golang:1 AS build
RUN CGO_ENABLED=0 \
    # a comment inside a continuation
    go build -trimpath -o /out/idgen ./cmd/idgen
FROM scratch
COPY --from=build /out/idgen /idgen
USER 65532:65532
ENTRYPOINT ["/idgen"]
CMD ["serve"]
`
	_, err := checkDockerfile(good)
	require.NoError(t, err)
	for _, c := range []struct{ name, old, new, want string }{
		{"unknown keyword", "USER 65532", "USR 65532", `"USR" is not a Dockerfile instruction`},
		{"lower case", "USER 65532", "user 65532", `"user" is not`},
		{"dangling continuation", `CMD ["serve"]`, `CMD ["serve"] \`, "continues past the end"},
		{"one stage", "FROM golang:1 AS build\n", "", "before the first FROM"},
		{"root", "USER 65532:65532", "USER root", "numeric non-root user"},
		{"uid 0", "USER 65532:65532", "USER 0", "numeric non-root user"},
		{"no user", "USER 65532:65532\n", "", "numeric non-root user"},
		{"cgo", "CGO_ENABLED=0", "CGO_ENABLED=1", `no "CGO_ENABLED=0"`},
		{"no trimpath", "-trimpath ", "", `no "-trimpath"`},
		{"shell entrypoint", `ENTRYPOINT ["/idgen"]`, "ENTRYPOINT /idgen", "exec form"},
		{"bad json", `CMD ["serve"]`, `CMD ["serve"`, "exec form"},
		{"other binary", `ENTRYPOINT ["/idgen"]`, `ENTRYPOINT ["/bin/sh"]`, "want the idgen binary"},
		{"unknown stage", "--from=build", "--from=builder", "no stage of that name"},
		{"not copied", "/out/idgen /idgen", "/out/idgen /usr/bin/idgen", "does not COPY"},
		{"no arguments", "USER 65532:65532", "EXPOSE", "EXPOSE without arguments"},
		{"heredoc", "RUN CGO", "RUN <<EOF\nEOF\nRUN CGO", "heredocs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(good, c.old, c.new, 1)
			require.NotEqual(t, good, src)
			_, err := checkDockerfile(src)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(dockerfile)
	require.NoError(t, err)
	img, err := checkDockerfile(string(src))
	require.NoError(t, err)

	// The default command is `idgen serve` on the port the image exposes,
	// with flags the command knows.
	require.Equal(t, "serve", img.cmd[0])
	requireServeArgs(t, img.cmd[1:])
	port := addrPort(t, flagValue(t, img.cmd[1:], "addr"))
	assert.Equal(t, []string{strconv.Itoa(port)}, img.expose)

	// .dockerignore keeps what the workspace build needs.
	ignore, err := os.ReadFile(repoRoot + "/.dockerignore")
	require.NoError(t, err)
	need := []string{"go.work", "go.work.sum", "go.mod", "lease/acquire.lua", "cmd/idgen/main.go"}
	for _, dir := range workspaceDirs(t) {
		need = append(need, path.Join(dir, "go.mod"), path.Join(dir, "go.sum"))
	}
	for _, p := range need {
		if pat := dockerIgnored(string(ignore), p); pat != "" {
			t.Errorf(".dockerignore pattern %q leaves %s out of the build context", pat, p)
		}
	}
	for _, p := range []string{".git", "serve/testdata/node/node_modules"} {
		assert.NotEmpty(t, dockerIgnored(string(ignore), p), "%s should stay out of the build context", p)
	}
}

// workspaceDirs lists the modules go.work uses.
func workspaceDirs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(repoRoot + "/go.work")
	require.NoError(t, err)
	var dirs []string
	in := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "use (":
			in = true
		case in && line == ")":
			in = false
		case in && line != "" && !strings.HasPrefix(line, "//"):
			dirs = append(dirs, path.Clean(line))
		}
	}
	require.Contains(t, dirs, "cmd/idgen")
	return dirs
}

// dockerIgnored returns the .dockerignore pattern that excludes p (a path
// from the build context's root) or one of its parent directories, or "".
// It follows Docker's rules as far as this repository's patterns need:
// a leading / is dropped, **/ matches any leading directories, no "!".
func dockerIgnored(ignore, p string) string {
	for line := range strings.Lines(ignore) {
		pat := strings.TrimSpace(line)
		if pat == "" || strings.HasPrefix(pat, "#") {
			continue
		}
		pat = path.Clean(strings.TrimPrefix(pat, "/"))
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if ok, _ := path.Match(pat, q); ok {
				return pat
			}
			if rest, ok := strings.CutPrefix(pat, "**/"); ok {
				if m, _ := path.Match(rest, path.Base(q)); m {
					return pat
				}
			}
		}
	}
	return ""
}

// --- Kubernetes ---

type k8sMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
}

type k8sDeployment struct {
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    *int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			SecretKeyRef struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Privileged               *bool `yaml:"privileged"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a number or a port's name
	} `yaml:"httpGet"`
}

type k8sService struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name        string `yaml:"name"`
			Port        int    `yaml:"port"`
			TargetPort  any    `yaml:"targetPort"`
			AppProtocol string `yaml:"appProtocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sSecret struct {
	StringData map[string]string `yaml:"stringData"`
}

type k8sPDB struct {
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	} `yaml:"spec"`
}

type k8sDoc struct {
	file string
	meta k8sMeta
	node yaml.Node
}

// The kinds the example uses, with their API versions.
var k8sAPIVersions = map[string]string{
	"Deployment":          "apps/v1",
	"Service":             "v1",
	"Secret":              "v1",
	"PodDisruptionBudget": "policy/v1",
	"Kustomization":       "kustomize.config.k8s.io/v1beta1",
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// readK8s parses every YAML document of every file in deploy/kubernetes.
func readK8s(t *testing.T) []k8sDoc {
	t.Helper()
	files, err := filepath.Glob(k8sDir + "/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var docs []k8sDoc
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			d := k8sDoc{file: filepath.Base(f)}
			err := dec.Decode(&d.node)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "%s, document %d", f, i+1)
			require.NoError(t, d.node.Decode(&d.meta), "%s, document %d", f, i+1)
			docs = append(docs, d)
		}
	}
	return docs
}

func one[T any](t *testing.T, docs []k8sDoc, kind string) (T, k8sDoc) {
	t.Helper()
	var v T
	var found []k8sDoc
	for _, d := range docs {
		if d.meta.Kind == kind {
			found = append(found, d)
		}
	}
	require.Len(t, found, 1, "%s objects", kind)
	require.NoError(t, found[0].node.Decode(&v))
	return v, found[0]
}

func subset(t *testing.T, sel, labels map[string]string, what string) {
	t.Helper()
	require.NotEmpty(t, sel, "%s: empty selector", what)
	for k, v := range sel {
		require.Equal(t, v, labels[k], "%s: selector %s=%s does not match the pod's labels %v", what, k, v, labels)
	}
}

func TestKubernetesExample(t *testing.T) {
	t.Parallel()
	docs := readK8s(t)
	files := map[string]bool{}
	for _, d := range docs {
		files[d.file] = true
		want, ok := k8sAPIVersions[d.meta.Kind]
		require.True(t, ok, "%s: kind %q is not one this example uses", d.file, d.meta.Kind)
		require.Equal(t, want, d.meta.APIVersion, "%s: %s", d.file, d.meta.Kind)
		if d.meta.Kind != "Kustomization" {
			require.Regexp(t, dnsLabel, d.meta.Metadata.Name, "%s: %s's name", d.file, d.meta.Kind)
		}
	}

	// kustomization.yaml lists every manifest but the example Secret.
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	_, kd := one[struct{}](t, docs, "Kustomization")
	require.NoError(t, kd.node.Decode(&kust))
	var want []string
	for f := range files {
		if f != kd.file && f != "secret.example.yaml" {
			want = append(want, f)
		}
	}
	assert.ElementsMatch(t, want, kust.Resources)

	dep, _ := one[k8sDeployment](t, docs, "Deployment")
	pod := dep.Spec.Template
	assert.GreaterOrEqual(t, dep.Spec.Replicas, 2, "several replicas")
	subset(t, dep.Spec.Selector.MatchLabels, pod.Metadata.Labels, "Deployment")
	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	require.NotEmpty(t, c.Image)
	require.Empty(t, c.Command, "the image's ENTRYPOINT (idgen) runs; args give the command")
	require.NotEmpty(t, c.Args)
	require.Equal(t, "serve", c.Args[0])
	requireServeArgs(t, c.Args[1:])

	// Ports: --addr, the container's port, the probes' and the Services'.
	port := addrPort(t, flagValue(t, c.Args[1:], "addr"))
	require.NotEmpty(t, c.Ports)
	resolve := func(p any, what string) int {
		t.Helper()
		switch p := p.(type) {
		case int:
			return p
		case string:
			for _, cp := range c.Ports {
				if cp.Name == p {
					return cp.ContainerPort
				}
			}
			t.Fatalf("%s: no container port named %q", what, p)
		}
		t.Fatalf("%s: port %v (%T) is neither a number nor a name", what, p, p)
		return 0
	}
	assert.Equal(t, port, c.Ports[0].ContainerPort, "containerPort and --addr")
	probes := map[string]*k8sProbe{"/livez": c.LivenessProbe, "/readyz": c.ReadinessProbe}
	for route, p := range probes {
		require.NotNil(t, p, "probe on %s", route)
		require.NotNil(t, p.HTTPGet, "probe on %s", route)
		assert.Equal(t, route, p.HTTPGet.Path)
		assert.Equal(t, port, resolve(p.HTTPGet.Port, route+" probe"))
	}
	var services int
	for _, d := range docs {
		if d.meta.Kind != "Service" {
			continue
		}
		services++
		var svc k8sService
		require.NoError(t, d.node.Decode(&svc))
		subset(t, svc.Spec.Selector, pod.Metadata.Labels, "Service "+d.meta.Metadata.Name)
		require.NotEmpty(t, svc.Spec.Ports)
		for _, p := range svc.Spec.Ports {
			assert.Equal(t, port, resolve(p.TargetPort, "Service "+d.meta.Metadata.Name), "targetPort")
			assert.Contains(t, []string{"", "http", "kubernetes.io/h2c"}, p.AppProtocol)
		}
	}
	require.NotZero(t, services)
	pdb, _ := one[k8sPDB](t, docs, "PodDisruptionBudget")
	subset(t, pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels, "PodDisruptionBudget")

	// REDIS_URL from the example Secret.
	secret, sd := one[k8sSecret](t, docs, "Secret")
	var redisEnv bool
	for _, e := range c.Env {
		if e.Name != "REDIS_URL" {
			continue
		}
		redisEnv = true
		assert.Empty(t, e.Value, "the Redis URL holds a password: not in the manifest")
		ref := e.ValueFrom.SecretKeyRef
		assert.Equal(t, sd.meta.Metadata.Name, ref.Name, "secretKeyRef name")
		u, err := url.Parse(secret.StringData[ref.Key])
		require.NoError(t, err, "the example Secret's %s", ref.Key)
		assert.Contains(t, []string{"redis", "rediss"}, u.Scheme)
	}
	assert.True(t, redisEnv, "REDIS_URL comes from a Secret")

	// Security: non-root (the image's user), read-only, no escalation.
	sc := c.SecurityContext
	require.True(t, (pod.Spec.SecurityContext.RunAsNonRoot != nil && *pod.Spec.SecurityContext.RunAsNonRoot) ||
		(sc.RunAsNonRoot != nil && *sc.RunAsNonRoot), "runAsNonRoot")
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
	assert.True(t, sc.Privileged == nil || !*sc.Privileged, "privileged")
	assert.Contains(t, sc.Capabilities.Drop, "ALL")
	if u := pod.Spec.SecurityContext.RunAsUser; u != nil {
		src, err := os.ReadFile(dockerfile)
		require.NoError(t, err)
		img, err := checkDockerfile(string(src))
		require.NoError(t, err)
		uid, _, _ := strings.Cut(img.finalUser, ":")
		assert.Equal(t, uid, strconv.Itoa(*u), "runAsUser and the image's USER")
	}
	for _, r := range []string{"cpu", "memory"} {
		assert.NotEmpty(t, c.Resources.Requests[r], "resources.requests.%s", r)
	}
	assert.NotEmpty(t, c.Resources.Limits["memory"], "resources.limits.memory")

	// The grace period outlasts the drain, the shutdown and the release.
	grace := 30 * time.Second // Kubernetes' default
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	drain := flagDuration(t, c.Args[1:], "drain-delay")
	shutdown := flagDuration(t, c.Args[1:], "shutdown-timeout")
	assert.Greater(t, grace, drain+shutdown+releaseTimeout,
		"terminationGracePeriodSeconds and --drain-delay + --shutdown-timeout + the lease's release")

	// The container's command, run here against a redis-server given as
	// REDIS_URL: it listens, the probes answer 200 on their paths, and on
	// the end of its context (SIGTERM) it drains and stops within the
	// grace period.
	runDeployment(t, c, drain, grace, slices.Sorted(maps.Keys(probes)))
}

// runDeployment runs the container's args in-process, with --addr on a
// free loopback port and REDIS_URL (the only variable the manifest sets)
// pointing at a fresh redis-server.
func runDeployment(t *testing.T, c k8sContainer, drain, grace time.Duration, routes []string) {
	t.Helper()
	rs := redistest.Start(t, redistest.Config{})
	args := slices.Clone(c.Args)
	i := slices.Index(args, "--addr")
	require.GreaterOrEqual(t, i, 0, "--addr VALUE, as two arguments")
	args[i+1] = "127.0.0.1:0"
	ns := flagValue(t, args[1:], "namespace")
	require.NoError(t, idgen.Init(t.Context(), rs.Client(t), idgen.Options{Namespace: ns}), "no quarantine for the test")

	var stderr lockedBuffer
	envs := map[string]string{}
	for _, e := range c.Env {
		envs[e.Name] = e.Value
	}
	envs["REDIS_URL"] = redisURL(rs)
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(k string) string { return envs[k] }}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan int, 1)
	go func() { done <- run(ctx, e, args) }()

	listening := regexp.MustCompile(`listening on http://(\S+) `)
	var addr string
	require.Eventually(t, func() bool {
		m := listening.FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 20*time.Second, 10*time.Millisecond, "idgen serve did not start:\n%s", &stderr)
	_, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	for _, route := range routes {
		require.Eventually(t, func() bool {
			res, err := http.Get("http://" + addr + route)
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		}, 20*time.Second, 20*time.Millisecond, "GET %s:\n%s", route, &stderr)
	}

	began := time.Now()
	stop()
	select {
	case code := <-done:
		took := time.Since(began)
		require.Equal(t, exitOK, code, "%s", &stderr)
		assert.GreaterOrEqual(t, took, drain, "it drains first")
		assert.Less(t, took, grace, "it stops within the grace period")
		assert.Contains(t, stderr.String(), "lease released")
	case <-time.After(grace):
		t.Fatalf("idgen serve still running %v after the end of its context:\n%s", grace, &stderr)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// --- the serve command's flags ---

// serveFlags reads the flags `idgen serve --help` lists: name → whether
// it takes a value.
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	r := runCLI(t, "", nil, "serve", "--help")
	require.Equal(t, exitOK, r.code, r.stderr)
	flags := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	line := regexp.MustCompile(`^  -([a-z0-9-]+)( \S+)?$`)
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[1]] = m[2] != ""
		}
	}
	require.Contains(t, flags, "addr")
	require.False(t, flags["allow-eviction"], "a boolean flag takes no value")
	return flags
}

// requireServeArgs checks that args are flags `idgen serve` knows, with
// values it accepts.
func requireServeArgs(t *testing.T, args []string) {
	t.Helper()
	known := serveFlags(t)
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		require.True(t, strings.HasPrefix(args[i], "-"), "argument %q is not a flag", args[i])
		takesValue, ok := known[name]
		require.True(t, ok, "idgen serve has no flag --%s", name)
		if takesValue && !hasValue {
			i++
		}
	}
	// The command's own parser takes them all (a bad value fails before
	// --help is reached).
	r := runCLI(t, "", nil, append(append([]string{"serve"}, args...), "--help")...)
	require.Equal(t, exitOK, r.code, "idgen serve %s:\n%s", strings.Join(args, " "), r.stderr)
}

// flagValue returns the value of --name in args ("--name V" or
// "--name=V"), failing the test when it is absent.
func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for i, a := range args {
		if a == "--"+name || a == "-"+name {
			require.Less(t, i+1, len(args), "--%s without a value", name)
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), name+"="); ok {
			return v
		}
	}
	t.Fatalf("no --%s in %q: give it explicitly", name, args)
	return ""
}

func flagDuration(t *testing.T, args []string, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(flagValue(t, args, name))
	require.NoError(t, err, "--%s", name)
	return d
}

func addrPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, "--addr %q", addr)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, "--addr %q", addr)
	require.NotZero(t, n, "--addr %q: a fixed port", addr)
	return n
}
