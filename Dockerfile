# syntax=docker/dockerfile:1
#
# One image holding both services, `auth-service` and `resource-service` (plus the static
# `grpc_health_probe` for docker-compose health checks). Pick the program with the command:
#
#   docker build -t auth-resource-services:dev .
#   docker run --rm auth-resource-services:dev auth-service --help
#   docker run --rm auth-resource-services:dev resource-service --help
#   docker run --rm -e DATABASE_URL=... auth-resource-services:dev auth-service migrate up
#
# Stages:
#   chef     Rust toolchain + cargo-chef (from crates.io, --locked, pinned).
#   planner  reduces the workspace to a "recipe": every manifest, the lock file, the targets.
#   builder  compiles the dependencies from the recipe alone (this layer is reused until a
#            Cargo.toml or Cargo.lock changes), then the workspace's own crates.
#   probe    builds grpc_health_probe from the Go module proxy (pinned version; go verifies the
#            module against the Go checksum database, so no hand-kept sha256 is needed).
#   runtime  distroless cc (glibc + libgcc only: no shell, no package manager, no compiler),
#            numeric non-root user.
#
# Dependency caching uses cargo-chef rather than a hand-made "stub sources" step: the workspace
# has seven members and api-client has a build script that compiles ../proto and its
# examples/proto; cargo-chef writes a skeleton of every member (empty lib/main/build.rs),
# so `cook` needs neither the protos nor the sources, and it removes the skeleton's own
# artifacts afterwards, so the real build recompiles exactly the workspace crates.
#
# No OpenSSL and no protoc: TLS is rustls over aws-lc, protos are compiled by protox (pure Rust).
# aws-lc-sys builds with the cc crate from pregenerated bindings on x86_64/aarch64 Linux, so
# the gcc of the rust image suffices (cmake, clang or nasm would only be needed for other
# targets or FIPS builds).

ARG RUST_VERSION=1.95
ARG GO_VERSION=1.26
# The builder's Debian and the runtime's must match (glibc): bookworm <-> distroless debian12.
ARG DEBIAN_SUITE=bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_SUITE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}" \
 && rm -rf "${CARGO_HOME}/registry"
WORKDIR /build

# ---------------------------------------------------------------------------------------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---------------------------------------------------------------------------------------------
FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
# Dependencies only: cached as long as recipe.json (manifests + Cargo.lock) is unchanged.
RUN cargo chef cook --release --locked --recipe-path recipe.json \
        -p auth-service -p resource-service
# The workspace itself.
COPY . .
RUN cargo build --release --locked -p auth-service -p resource-service \
 && mkdir -p /out \
 && cp target/release/auth-service target/release/resource-service /out/ \
 && /out/auth-service --version \
 && /out/resource-service --version

# ---------------------------------------------------------------------------------------------
FROM golang:${GO_VERSION} AS probe
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.62
# Static (no cgo), stripped. `go install module@version` builds that exact version with the
# module's own go.sum, and checks the module against sum.golang.org (GOSUMDB is on by default).
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags="-s -w" \
        "github.com/grpc-ecosystem/grpc-health-probe@${GRPC_HEALTH_PROBE_VERSION}" \
 && test -x /out/grpc-health-probe

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="auth-resource-services" \
      org.opencontainers.image.description="auth-service and resource-service (gRPC), one image" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=builder /out/auth-service /out/resource-service /usr/local/bin/
COPY --from=probe /out/grpc-health-probe /usr/local/bin/grpc_health_probe
# Inside a container the loopback defaults of the binaries are useless: listen on every
# interface. JSON logs for collectors. Compose and Kubernetes set these again, explicitly.
ENV AUTH_LISTEN_ADDR=0.0.0.0:50051 \
    RESOURCE_LISTEN_ADDR=0.0.0.0:50052 \
    LOG_FORMAT=json
EXPOSE 50051 50052
# distroless's `nonroot`, numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# Both services stop on SIGTERM: health NOT_SERVING, listener closed, in-flight calls drained
# for SHUTDOWN_GRACE_PERIOD (20 s by default). Give them longer than that before SIGKILL.
STOPSIGNAL SIGTERM
CMD ["/usr/local/bin/auth-service"]
