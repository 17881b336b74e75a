# Container image of the interruptions stream processor.
#   docker build -t interruptions:local .
#   docker run --rm interruptions:local run --brokers kafka:9092
# Build stage: a static binary (no cgo), paths trimmed, symbols stripped.
ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Modules first, so that this layer is reused while only the code changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags='-s -w' -o /out/interruptions ./cmd/interruptions

# Final stage: distroless static image, runs as the nonroot user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/interruptions /interruptions
USER nonroot:nonroot
# Prometheus metrics (INTERRUPTIONS_METRICS_ADDR / --metrics-addr).
EXPOSE 9464
# The webhook bridge (`ingest --listen`, default :8080).
EXPOSE 8080
ENTRYPOINT ["/interruptions"]
CMD ["run"]
