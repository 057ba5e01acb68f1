# syntax=docker/dockerfile:1
#
# The idgen command (`idgen serve` by default) as a static binary on a
# distroless base, run as a non-root user. Build from the repository root,
# which `make docker` does:
#
#   docker build -t idgen .
#   docker run --rm -p 8080:8080 -e REDIS_URL=redis://redis:6379 idgen
#
# The build uses the workspace (go.work), so the modules of this checkout
# (the library, metrics, serve) go into the binary, not released versions.
# The checks in cmd/idgen/deploy_test.go read this file.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Every module of the workspace must be present for go.work to load; the
# module and build caches persist between builds.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags="-s -w" -o /out/idgen ./cmd/idgen && \
    /out/idgen version

# distroless/static: CA certificates (for rediss://) and tzdata, no shell.
# 65532 is its nonroot user; numeric, so that Kubernetes can verify
# runAsNonRoot.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/idgen /usr/local/bin/idgen
USER 65532:65532
EXPOSE 8080
# There is no HEALTHCHECK: the image has no shell or HTTP client to run
# one. Orchestrators probe GET /livez and GET /readyz on port 8080 (see
# deploy/kubernetes/).
ENTRYPOINT ["/usr/local/bin/idgen"]
CMD ["serve", "--addr", ":8080"]
