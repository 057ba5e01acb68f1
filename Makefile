# idgen: `make test` is what CI runs (.ci/run). It needs redis-server, zsh and
# strace on PATH and installs them with apt-get when missing and we are root.

GO        ?= go
FUZZTIME  ?= 10s
LONGFUZZ  ?= 5m
BENCHTIME ?= 1s
CHAOSTIME ?= 30m
SIMTIME   ?= 1h

.PHONY: test short deps lint vet unit go125 fuzz-short fuzz fuzz-long bench chaos sim-soak generate generate-proto tidy-cmd bench-serve docker

# Every module of the repository: the root (the library and the CLI), then
# the modules with heavier dependencies (go.work ties them together).
PKGS = ./... ./cmd/idgen/... ./serve/... ./examples/... ./internal/sim/... ./metrics/... ./otelmetrics/...
# The older of the two Go releases the library supports, from the module
# proxy (GOTOOLCHAIN downloads it once).
GO125 ?= go1.25.14

# staticcheck, pinned; `go run` fetches it from the module proxy once.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
MODULES = . bench examples internal/sim metrics otelmetrics serve
# cmd/idgen requires released versions of the modules above (no replace, so
# that `go install ...@latest` works); its tidy check points them at the
# checkout for the duration.
CMD_REPLACES = -replace github.com/snowlease/idgen=../.. \
	-replace github.com/snowlease/idgen/metrics=../../metrics \
	-replace github.com/snowlease/idgen/serve=../../serve
CMD_DROPS = -dropreplace github.com/snowlease/idgen \
	-dropreplace github.com/snowlease/idgen/metrics \
	-dropreplace github.com/snowlease/idgen/serve

# buf, pinned, builds with `go run` (no protoc needed); buf.gen.yaml pins
# the plugins.
BUF ?= github.com/bufbuild/buf/cmd/buf@v1.75.0

test: deps lint unit go125 fuzz-short

# The edit-test loop: the library and the simulation with -short, which
# skips the chaos suite, the simulation's long runs and the tests that wait
# for real failovers or key expiries (under a minute on 2 cores). `make
# test` runs everything.
short:
	$(GO) test -short ./... ./serve/... ./internal/sim/...

# gofmt, go vet, staticcheck and `go mod tidy` for every module; fails on
# any finding.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) $(PKGS)
	@cd bench && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...
	@for m in $(MODULES); do \
		( cd $$m && cp go.mod go.mod.lint && cp go.sum go.sum.lint && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy && \
		  if ! cmp -s go.mod go.mod.lint || ! cmp -s go.sum go.sum.lint; then \
			echo "go mod tidy changes $$m/go.mod or go.sum: run it there and commit the result"; \
			mv go.mod.lint go.mod; mv go.sum.lint go.sum; exit 1; fi; \
		  rm -f go.mod.lint go.sum.lint ) || exit 1; \
	done
	@cd cmd/idgen && cp go.mod go.mod.lint && cp go.sum go.sum.lint && \
	  $(GO) mod edit $(CMD_REPLACES) && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy && $(GO) mod edit $(CMD_DROPS) && \
	  if ! cmp -s go.mod go.mod.lint || ! cmp -s go.sum go.sum.lint; then \
		echo "go mod tidy changes cmd/idgen/go.mod or go.sum: run make tidy-cmd and commit the result"; \
		mv go.mod.lint go.mod; mv go.sum.lint go.sum; exit 1; fi; \
	  rm -f go.mod.lint go.sum.lint
	$(GO) run $(BUF) lint

# go mod tidy for cmd/idgen (see CMD_REPLACES).
tidy-cmd:
	cd cmd/idgen && $(GO) mod edit $(CMD_REPLACES) && GOWORK=off $(GO) mod tidy && $(GO) mod edit $(CMD_DROPS)

# Tools the tests run: redis-server (every Redis test), zsh (the CLI's zsh
# completion script is checked with zsh -n), strace (the chaos suite's slow
# disk delays redis-server's fsyncs with it).
DEPS_BIN = redis-server zsh strace
DEPS_PKG = redis-server zsh strace

deps:
	@missing=""; for b in $(DEPS_BIN); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "missing:$$missing; installing $(DEPS_PKG) with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEPS_PKG) >/dev/null; \
		else \
			echo "missing:$$missing: install them (apt-get install -y $(DEPS_PKG)) and run make test again" >&2; \
			exit 1; \
		fi; \
	fi
	@redis-server --version
	@# serve's Node client test needs Node.js 20+ and the packages of
	@# serve/testdata/node/package-lock.json (npm ci, again when the lock changes).
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
		echo "node and npm are missing: install Node.js 20 or later with npm (https://nodejs.org, or apt-get install -y nodejs npm) and run make test again" >&2; exit 1; }
	@if [ ! serve/testdata/node/node_modules/.package-lock.json -nt serve/testdata/node/package-lock.json ]; then \
		npm ci --prefix serve/testdata/node --ignore-scripts --no-audit --no-fund; fi
	@node --version
	@# examples/postgres's test needs PostgreSQL at DATABASE_URL (default 127.0.0.1:5432, database test).
	@if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		echo "PostgreSQL is not answering on 127.0.0.1:5432: trying to start it"; \
		if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then \
			pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n1) main start || true; \
		fi; \
	fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# The root module alone (what a user's program depends on) on Go 1.25, with
# the dependency versions its own go.mod asks for (no workspace). The chaos
# suite, which -race runs above on Go 1.26, is left out to keep the run short.
go125:
	GOWORK=off GOTOOLCHAIN=$(GO125) $(GO) vet ./...
	GOWORK=off GOTOOLCHAIN=$(GO125) $(GO) test -count=1 -timeout 20m $$(GOWORK=off GOTOOLCHAIN=$(GO125) $(GO) list ./... | grep -v /test/chaos)

# Every parser's Fuzz target, for FUZZTIME each (a short run in `make test`).
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

# A target that fails with a bare "context deadline exceeded" and no failing
# input is the Go fuzzing engine's own race at the -fuzztime deadline
# (golang/go#75804), seen here on a loaded machine: it is run once more. A
# failing input, a panic, or a second failure fails the run.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f for $(FUZZTIME)"; \
			if ! $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > $$log 2>&1; then \
				cat $$log; \
				if grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written\|panic:' $$log; then \
					echo "fuzz $$f: the fuzzing engine's deadline race, no failing input: once more"; \
					$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
				else exit 1; fi; \
			else cat $$log; fi; \
		done; \
	done

fuzz-long:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(LONGFUZZ)

bench:
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# Load run of idgen serve next to a bare baseline (docs/benchmarks.md): wrk,
# h2load and bench/serve/load over loopback. Installs wrk and h2load.
DURATION ?= 10s
bench-serve:
	@command -v wrk >/dev/null && command -v h2load >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nghttp2-client >/dev/null)
	DURATION=$(DURATION) bench/serve/run.sh

# Long chaos soak against real redis-server processes (the bounded run is part of `make test`).
# Summary lines go to the terminal and to CHAOSREPORT.
CHAOSREPORT ?= $(CURDIR)/chaos-report.txt
chaos: deps
	cd test/chaos && $(GO) test -count=1 -run '^TestChaos$$' -timeout 0 \
		-chaos.duration=$(CHAOSTIME) -chaos.report=$(CHAOSREPORT)

# Deterministic simulation soak: consecutive seeds for SIMTIME (the default test runs thousands).
sim-soak:
	$(GO) test ./internal/sim -run 'TestSim$$' -v -timeout 0 -sim.duration $(SIMTIME)

# The generated code of the ORM recipes (ent, sqlc; versions pinned in the
# go:generate lines). The result is committed.
generate: generate-proto
	cd examples/orm && GOWORK=off $(GO) generate ./...

# The service's generated Go code (serve/gen) from proto/. Committed.
generate-proto:
	$(GO) run $(BUF) generate

# The container image of the idgen command (Dockerfile; `idgen serve` by
# default), built from this checkout's workspace.
IMAGE ?= idgen:dev
docker:
	docker build -t $(IMAGE) .
