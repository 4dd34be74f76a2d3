# Courier's container image: one static binary on distroless. The same image
# runs every role; the command picks it (gateway, worker, all, migrate).
#
#   docker build --build-arg VERSION=v1.2.3 -t courier:v1.2.3 .
#
# Needs BuildKit (the default builder since Docker Engine 23) for the build
# cache mount.

# The module's go directive is 1.26.8; GOTOOLCHAIN=local makes a mismatch fail
# the build instead of downloading another toolchain.
FROM golang:1.26.8-bookworm AS build
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
WORKDIR /src

# Modules first, in their own layer: it is rebuilt only when go.mod or go.sum
# change, not on every source edit.
# client/ is a module of its own that the root module replaces in: the
# server shares its wire contract (client/wire).
COPY go.mod go.sum ./
COPY client/go.mod client/go.sum ./client/
RUN go mod download

COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/courier ./cmd/courier

# static-debian12 has CA certificates, tzdata and /etc/passwd and nothing else:
# no shell, no package manager. The nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="courier" \
      org.opencontainers.image.description="Reliable messages between microservices on Temporal and Kafka" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/courier /usr/local/bin/courier
USER nonroot:nonroot
# The gateway's HTTP port (COURIER_HTTP_ADDR); the worker listens on nothing.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/courier"]
CMD ["all"]
