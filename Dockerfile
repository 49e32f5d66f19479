# syntax=docker/dockerfile:1

# Image of the assetjoblog producer. It also carries the IPS simulator
# (/ips-sim, for the compose demo: run it with --entrypoint /ips-sim) and the
# health probe (/healthcheck, because the runtime image has no shell or curl).
#
#   docker build -t assetjoblog .
#   docker run --rm assetjoblog -h
#
# The producer runs as the non-root user 65532. With -state-topic its
# checkpoints live in Kafka and it keeps nothing on disk (replicas need no
# volume). With the -state file (the default) it keeps it under
# /var/lib/assetjoblog, a volume: mount a persistent volume there, or every
# restart re-publishes what the previous container already published.

# GO_VERSION matches the go directive of go.mod, so the build needs no
# toolchain download.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/producer ./cmd/ips-sim ./deploy/healthcheck \
 && mkdir -p /out/state

# distroless/static: CA certificates, tzdata and /etc/passwd with the
# nonroot user 65532, nothing else.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/producer /out/ips-sim /out/healthcheck /
# An empty directory owned by the non-root user; a fresh named volume mounted
# here inherits that ownership.
COPY --from=build --chown=65532:65532 /out/state /var/lib/assetjoblog
VOLUME ["/var/lib/assetjoblog"]
# The default -state (a relative file name) lands in the volume too.
WORKDIR /var/lib/assetjoblog
USER 65532:65532
# -metrics-addr :9090 serves /metrics, /healthz and /readyz (off unless set).
EXPOSE 9090
ENTRYPOINT ["/producer"]
