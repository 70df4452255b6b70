# Multi-stage build: a static tributary binary on a distroless, non-root
# runtime image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/tributary ./cmd/tributary

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tributary /usr/local/bin/tributary
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/tributary"]
CMD ["--help"]
