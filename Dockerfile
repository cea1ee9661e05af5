# Multi-stage build of a static scp_exporter on a distroless, non-root base.
# Build:  make docker   (or docker build --build-arg VERSION=$(cat VERSION) .)
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-X github.com/prometheus/common/version.Version=${VERSION} \
                -X github.com/prometheus/common/version.Revision=${REVISION} \
                -X github.com/prometheus/common/version.Branch=${BRANCH} \
                -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE} \
                -X github.com/prometheus/common/version.BuildUser=docker" \
      -o /out/scp_exporter .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scp_exporter /bin/scp_exporter
USER 65532:65532
EXPOSE 9857
ENTRYPOINT ["/bin/scp_exporter", "--config.file=/etc/scp_exporter/config.yml"]
