# Multi-stage build of a static scp_exporter on a distroless, non-root base.
# Build:  make docker   (or docker build --build-arg VERSION=$(cat VERSION) .)
#
# The binary is built by the Makefile's own `make build` (CGO_ENABLED=0,
# -trimpath, the version stamped in with -ldflags), the command a release
# and a developer use; e2e/packaging_test.go runs this RUN line as written.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_DATE=unknown
# The state directory (--storage.path), empty, for the final stage.
RUN mkdir -p /out/data
RUN make build VERSION="${VERSION}" REVISION="${REVISION}" BRANCH="${BRANCH}" BUILD_DATE="${BUILD_DATE}" BUILD_USER=docker BIN=/out/scp_exporter

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="scp_exporter" \
      org.opencontainers.image.description="Prometheus exporter: who each Samsung Cloud Platform VM image is shared with" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/scp_exporter /bin/scp_exporter
COPY LICENSE /LICENSE
# --storage.path: the state kept across restarts; mount a volume here.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
USER 65532:65532
EXPOSE 9857
# The config file is an argument, not part of the entrypoint: any arguments
# given to `docker run IMAGE ...` or in a pod's `args` replace CMD, so pass
# --config.file again when you pass other flags:
#   docker run IMAGE --config.file=/etc/scp_exporter/config.yml --log.format=json
ENTRYPOINT ["/bin/scp_exporter"]
CMD ["--config.file=/etc/scp_exporter/config.yml", "--storage.path=/data"]
