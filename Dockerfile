# Multi-stage build: a static tributary binary on a distroless, non-root
# runtime image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/tributary ./cmd/tributary

# No shell, no package manager; CA certificates and tzdata are included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tributary /usr/local/bin/tributary
# Numeric, so that Kubernetes' runAsNonRoot can check it (nonroot = 65532).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tributary"]
CMD ["--help"]
