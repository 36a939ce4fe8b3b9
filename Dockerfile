# syntax=docker/dockerfile:1
#
# tagifai: one static binary and the committed model on a distroless base.
#
#   docker build -t tagifai:dev .
#   docker run --rm -p 8000:8000 tagifai:dev
#
# deploy/ holds the Kubernetes manifests that run this image; its test checks
# that their ports match the --addr below.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a change to the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary (no cgo: SQLite is modernc.org/sqlite, pure Go), without
# local paths, symbols or DWARF.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/tagifai . \
 && mkdir -p /out/data

# static-debian12:nonroot has CA certificates, tzdata and /etc/passwd with the
# nonroot user (65532), and no shell or package manager. With no shell and no
# curl there is nothing to run a Docker HEALTHCHECK with, so the image has
# none: Kubernetes probes GET /health/live and /health/ready instead (see
# deploy/deployment.yaml).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tagifai /usr/local/bin/tagifai
COPY artifacts /artifacts
# The registry's database and artifact files; writable by nonroot. Mount a
# volume here to keep them; Kubernetes mounts an emptyDir.
COPY --from=build --chown=65532:65532 /out/data /var/lib/tagifai
ENV TAGIFAI_DATA_DIR=/var/lib/tagifai
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/tagifai", "serve", "--addr", ":8000", "--artifacts", "/artifacts"]
