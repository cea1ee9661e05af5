# The container image of scp_exporter, built from the release binary as
# Prometheus' own images are: no compiler, no RUN step (so one build per
# platform needs no emulation). Build it with `make docker`, which
# cross-compiles .build/<os>-<arch>/scp_exporter (make crossbuild), stages
# the build context in .build/docker/ (make docker-stage: each platform's
# binary as <os>-<arch>/scp_exporter, LICENSE, data/, and rootfs/ with a CA
# bundle and /etc/passwd and /etc/group naming the non-root user 65532) and
# runs buildah once per platform into a manifest list, passing the
# arguments below. The context is that directory, not the repository: it
# holds only what is copied here.
#
# BASE is scratch: the binary is static and needs nothing else than what is
# staged. Another base, a distroless static one for instance:
#   make docker DOCKER_BASE=<registry>/distroless/static-debian12:nonroot
ARG BASE=scratch
FROM ${BASE}

ARG OS=linux
ARG ARCH=amd64
ARG VERSION=dev
ARG REVISION=unknown
# The commit's time, RFC 3339.
ARG CREATED=unknown
# Where the source is (a URL); the release workflow passes the repository's.
ARG SOURCE=
LABEL org.opencontainers.image.title="scp_exporter" \
      org.opencontainers.image.description="Prometheus exporter: who each Samsung Cloud Platform VM image is shared with" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"

# /etc/passwd, /etc/group and /etc/ssl/certs/ca-certificates.crt.
COPY rootfs/ /
COPY ${OS}-${ARCH}/scp_exporter /bin/scp_exporter
COPY LICENSE /LICENSE
# --storage.path: the state kept across restarts; mount a volume here.
COPY --chown=65532:65532 data /data
VOLUME /data
USER 65532:65532
EXPOSE 9857
# The config file is an argument, not part of the entrypoint: any arguments
# given to `docker run IMAGE ...` or in a pod's `args` replace CMD, so pass
# --config.file again when you pass other flags:
#   docker run IMAGE --config.file=/etc/scp_exporter/config.yml --storage.path=/data --log.format=json
ENTRYPOINT ["/bin/scp_exporter"]
CMD ["--config.file=/etc/scp_exporter/config.yml", "--storage.path=/data"]
