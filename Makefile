# scp_exporter — see README.md. `make demo` and `make test` are the two
# commands a new user needs.

GO        ?= go
BIN       := scp_exporter
FAKE_BIN  := .build/scp-fake-api
PKG       := github.com/prometheus/common/version
VERSION   ?= $(shell cat VERSION)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
# What every build stamps in: the version and where it comes from; the
# build date and user follow (BUILD_DATE and BUILD_USER here, the commit's
# time and RELEASE_BUILD_USER in crossbuild).
VERSION_LDFLAGS := -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) -X $(PKG).Branch=$(BRANCH)
LDFLAGS   := $(VERSION_LDFLAGS) -X $(PKG).BuildDate=$(BUILD_DATE) -X $(PKG).BuildUser=$(BUILD_USER)

.PHONY: all build fake test test-mixin fuzz bench loadtest lint lint-workflows demo crossbuild docker docker-stage docker-push release sbom-tool helm chart-package test-chart lint-chart mixin lint-mixin clean

all: build

## build: the static scp_exporter binary with version information
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

## fake: the fake SCP API used by the demo
fake:
	@mkdir -p .build
	$(GO) build -o $(FAKE_BIN) ./scp/scptest/cmd/scp-fake-api

## test: vet and race-enabled tests (end-to-end tests need promtool/prometheus/amtool; CI installs them), about 10 minutes on 2 cores; prints each package's result as it finishes, each test that took 10s or more, a test still running after 10s, and a failing test's output
test:
	$(GO) vet ./...
	$(GO) run ./scripts/testprogress $(GO) test -race -count=1 -json ./...

## test-mixin: the checked-in rules, dashboards and the chart's copies are what the mixin makes ("run make mixin" when not), a _config change shows in the output, scpSeriesSelector reaches every scp_* selector and keeps the rules' unit tests passing, promtool accepts it; the dashboard's panels, variables and queries (every query parsed, reading only series the exporter or its rules make, the share tables evaluated on a PromQL engine; every query on 5,000 images × 3 members against a tenth of Prometheus's default --query.max-samples, SCP_DASHBOARD_SCALE=1 for 50,000 images and all of it, 2 minutes) (module scripts/mixin, kept out of the main go.mod; about 45 s once built, 4 minutes the first time on 2 cores: .ci/run runs it after make test)
test-mixin:
	cd scripts/mixin && $(GO) vet ./... && $(GO) test -count=1 ./...

## mixin: from the monitoring mixin (mixin/, jsonnet, through go-jsonnet in module scripts/mixin), write alerts/scp_exporter.rules.yml, dashboards/<name>.json and the chart's copies of both in charts/scp-exporter/files/; formats mixin/'s jsonnet files first
mixin:
	cd scripts/mixin && $(GO) run . -root $(CURDIR)

BENCH      ?= .
BENCH_PKGS ?= ./scp ./collector
BENCH_COUNT ?= 6

## bench: Go benchmarks with -benchmem: signing, decoding members, a scrape of N images against the in-process fake (BENCH=regexp, BENCH_COUNT=n; see BENCHMARKS.md)
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCH_COUNT) $(BENCH_PKGS)

## loadtest: the exporter binary against the fake API at 100-10,000 images beside a minimal reference client (SCP_LOADTEST_FULL=1 adds 10,000 images at 50 ms); the budget and throttling scenarios run with go test -tags loadtest -count=1 -timeout 30m -v -run 'Estate|Throttled' ./loadtest (see BENCHMARKS.md)
loadtest:
	$(GO) test -tags loadtest -count=1 -timeout 60m -run Load -v ./loadtest

GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := .build/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

## lint: golangci-lint with .golangci.yml (pinned; built once into .build/ through the Go module proxy)
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN=$(CURDIR)/$(dir $(GOLANGCI_LINT)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

## fuzz: each fuzz target for FUZZTIME (default 15s), from its committed seed corpus
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMembers$$' -fuzztime $(FUZZTIME) ./scp/
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/account/trustlist/

## demo: the exporter against the built-in fake API, no cloud account needed
demo: build fake
	@BIN=./$(BIN) FAKE_BIN=./$(FAKE_BIN) ./scripts/demo.sh

RELEASE_DIR       ?= .build/release
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
RELEASE_FILES     := LICENSE README.md CHANGELOG.md config.example.yml
# Directories whose tracked files each archive carries: the alerting and
# recording rules with their promtool tests, the Grafana dashboard, the
# systemd unit, and the monitoring mixin's jsonnet (mixin/; its generator,
# scripts/mixin, is a build tool and stays out).
RELEASE_DIRS      := alerts dashboards examples/systemd mixin
# A release is reproducible: the build date and every file time are the
# commit's (SOURCE_DATE_EPOCH, as reproducible-builds.org defines it, wins
# when set), the build user is this fixed name, and owners, modes and order
# inside the archives are normalised. -buildvcs=false: the revision is
# stamped by -ldflags; Go's own VCS stamp would differ between a clone and a
# git worktree of one commit (it finds no .git directory in a worktree), and
# with untracked files. Inputs that remain: the commit, VERSION, the branch
# name and the Go version.
RELEASE_BUILD_USER ?= release
# The shell code that sets epoch (SOURCE_DATE_EPOCH, or the commit's time),
# date (the build date stamped into the binary) and created (the same time
# in RFC 3339, the image's label), or fails.
RELEASE_TIME = epoch=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || true)}; \
	case "$$epoch" in ''|*[!0-9]*) echo "$@: no commit time (want a git checkout, or SOURCE_DATE_EPOCH in seconds; got '$$epoch')" >&2; exit 1;; esac; \
	at() { date -u -d "@$$epoch" "$$1" 2>/dev/null || date -u -r "$$epoch" "$$1"; }; \
	date=$$(at +%Y%m%d-%H:%M:%S); created=$$(at +%Y-%m-%dT%H:%M:%SZ)

CROSSBUILD_PLATFORMS ?= $(RELEASE_PLATFORMS)
# Where crossbuild writes the binaries (<os>-<arch>/scp_exporter), release
# packs them from and docker stages its build context (DOCKER_STAGE); a
# directory of its own keeps a build with another VERSION (a test's) out of
# .build/.
CROSSBUILD_DIR ?= .build

## crossbuild: the release binary of each of CROSSBUILD_PLATFORMS (default RELEASE_PLATFORMS) in CROSSBUILD_DIR/<os>-<arch>/scp_exporter (.build/), where the release archives and the image take it from; reproducible (-trimpath, the build date the commit's time, build user "release")
crossbuild:
	@if [ -z '$(strip $(CROSSBUILD_DIR))' ]; then echo "crossbuild: CROSSBUILD_DIR is empty: set it to the directory for the binaries (default .build)" >&2; exit 1; fi
	@set -e; export LC_ALL=C TZ=UTC; $(RELEASE_TIME); \
	for platform in $(CROSSBUILD_PLATFORMS); do \
	  os=$${platform%/*}; arch=$${platform#*/}; \
	  echo ">> $(CROSSBUILD_DIR)/$$os-$$arch/$(BIN) (build date $$date UTC, from SOURCE_DATE_EPOCH=$$epoch)"; \
	  rm -f $(CROSSBUILD_DIR)/$$os-$$arch/$(BIN); \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=false \
	    -ldflags "$(VERSION_LDFLAGS) -X $(PKG).BuildDate=$$date -X $(PKG).BuildUser=$(RELEASE_BUILD_USER)" \
	    -o $(CROSSBUILD_DIR)/$$os-$$arch/$(BIN) .; \
	done

CYCLONEDX_GOMOD_VERSION ?= v1.10.0
CYCLONEDX_GOMOD := .build/cyclonedx-gomod-$(CYCLONEDX_GOMOD_VERSION)/cyclonedx-gomod

## release: scp_exporter-$(VERSION).<os>-<arch>.tar.gz for each of RELEASE_PLATFORMS, each holding a directory with the static binary, LICENSE, README.md, CHANGELOG.md, config.example.yml, alerts/, dashboards/, examples/systemd/ and mixin/; beside each its CycloneDX SBOM (<archive name>.cdx.json, from the binary's module information); and sha256sums.txt; in RELEASE_DIR (.build/release). Reproducible: two runs of one commit give identical files. On a tagged commit the tag must be v$(VERSION). Needs git, GNU tar, gzip and sha256sum.
# release and docker-stage run crossbuild themselves, with their own
# platforms, every time: as a prerequisite it would run once per make
# invocation (make docker release), with the first goal's platforms, and
# the second would take what an earlier build left in CROSSBUILD_DIR.
# Two of those crossbuilds at once (make -j2 docker release) would write
# the same CROSSBUILD_DIR/<os>-<arch>/scp_exporter: the targets of one
# invocation run one after another (.NOTPARALLEL; with prerequisites it
# would not keep two goals apart under GNU make 4.4, and no target here
# gains from -j: go parallelises its own work).
.NOTPARALLEL:

release: $(CYCLONEDX_GOMOD)
	@$(MAKE) --no-print-directory crossbuild CROSSBUILD_PLATFORMS='$(RELEASE_PLATFORMS)'
	@tag=$$(git describe --exact-match --tags HEAD 2>/dev/null || true); \
	if [ -n "$$tag" ] && [ "$$tag" != "v$(VERSION)" ]; then \
	  echo "release: HEAD is tagged $$tag but VERSION is $(VERSION) (want tag v$(VERSION))" >&2; exit 1; fi
	rm -rf $(RELEASE_DIR)
	@mkdir -p $(RELEASE_DIR)
	@set -e; export LC_ALL=C TZ=UTC; $(RELEASE_TIME); \
	files=$$(git ls-files -- $(RELEASE_DIRS)); \
	for platform in $(RELEASE_PLATFORMS); do \
	  os=$${platform%/*}; arch=$${platform#*/}; name=$(BIN)-$(VERSION).$$os-$$arch; \
	  echo ">> $$name.tar.gz (file times $$date UTC, from SOURCE_DATE_EPOCH=$$epoch)"; \
	  mkdir -p $(RELEASE_DIR)/$$name; \
	  install -m 0755 $(CROSSBUILD_DIR)/$$os-$$arch/$(BIN) $(RELEASE_DIR)/$$name/$(BIN); \
	  for f in $(RELEASE_FILES) $$files; do install -D -m 0644 "$$f" "$(RELEASE_DIR)/$$name/$$f"; done; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(CYCLONEDX_GOMOD) bin -json -noserial -notimestamp -version v$(VERSION) \
	    -output $(RELEASE_DIR)/$$name.cdx.json $(RELEASE_DIR)/$$name/$(BIN) 2>/dev/null; \
	  tar -C $(RELEASE_DIR) --format=gnu --sort=name --mtime="@$$epoch" --owner=0 --group=0 --numeric-owner \
	    --mode=u+rwX,go+rX,go-w -cf - $$name | gzip -9n > $(RELEASE_DIR)/$$name.tar.gz; \
	  rm -rf $(RELEASE_DIR)/$$name; \
	done; \
	cd $(RELEASE_DIR) && sha256sum $(BIN)-$(VERSION).*.tar.gz $(BIN)-$(VERSION).*.cdx.json > sha256sums.txt
	@cat $(RELEASE_DIR)/sha256sums.txt

DOCKER_IMAGE     ?= scp_exporter:$(VERSION)
DOCKER_PLATFORMS ?= linux/amd64 linux/arm64
DOCKER_BASE      ?= scratch
DOCKER_SOURCE    ?=
DOCKER_CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
# buildah and its global flags: vfs storage works everywhere, without a
# kernel overlay or fuse; add --root/--runroot for a storage of its own.
BUILDAH          ?= buildah --storage-driver vfs
# docker-push: where to (an image name, registry included), which tags, and
# the transport (docker:// a registry; oci: a local OCI layout directory).
# latest moves with releases only: a pre-release (a VERSION with "-", as
# Prometheus' Makefile tells them apart) is pushed as its version alone.
DOCKER_REPOSITORY     ?=
DOCKER_PUSH_TAGS      ?= $(VERSION)$(if $(findstring -,$(VERSION)),, latest)
DOCKER_PUSH_TRANSPORT ?= docker://
# The image's non-root user (the Dockerfile's USER), named as distroless names it.
DOCKER_UID := 65532
# The build context: only what the Dockerfile copies, staged by docker-stage.
DOCKER_STAGE ?= $(CROSSBUILD_DIR)/docker

## docker-stage: the image's build context in DOCKER_STAGE (CROSSBUILD_DIR/docker): the crossbuild binary of each of DOCKER_PLATFORMS (linux-<arch>/scp_exporter), LICENSE, the CA bundle DOCKER_CA_BUNDLE and a passwd/group naming the non-root user (rootfs/), and the empty data/
# It deletes DOCKER_STAGE first (rm -rf): refused, before anything is
# built, when that is empty, or CROSSBUILD_DIR, the working tree or a
# parent of either, which hold the binaries and the build tools.
docker-stage:
	@stage='$(abspath $(DOCKER_STAGE))'; \
	if [ -z "$$stage" ] || [ -z '$(strip $(CROSSBUILD_DIR))' ]; then \
	  echo "docker-stage: DOCKER_STAGE ('$(DOCKER_STAGE)') and CROSSBUILD_DIR ('$(CROSSBUILD_DIR)') must not be empty" >&2; exit 1; fi; \
	for dir in '$(abspath $(CROSSBUILD_DIR))' '$(CURDIR)'; do \
	  case "$$dir/" in "$${stage%/}/"*) \
	    echo "docker-stage: DOCKER_STAGE=$(DOCKER_STAGE) is $$dir or a parent of it, which docker-stage would delete (rm -rf): set DOCKER_STAGE to a directory of its own (default CROSSBUILD_DIR/docker)" >&2; exit 1;; \
	  esac; \
	done
	@$(MAKE) --no-print-directory crossbuild CROSSBUILD_PLATFORMS='$(DOCKER_PLATFORMS)'
	@set -e; rm -rf $(DOCKER_STAGE); mkdir -p $(DOCKER_STAGE)/rootfs/etc/ssl/certs $(DOCKER_STAGE)/data; \
	for platform in $(DOCKER_PLATFORMS); do \
	  os=$${platform%/*}; arch=$${platform#*/}; \
	  install -D -m 0755 $(CROSSBUILD_DIR)/$$os-$$arch/$(BIN) $(DOCKER_STAGE)/$$os-$$arch/$(BIN); \
	done; \
	install -m 0644 LICENSE $(DOCKER_STAGE)/LICENSE; \
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:$(DOCKER_UID):$(DOCKER_UID):nonroot:/home/nonroot:/sbin/nologin\n' > $(DOCKER_STAGE)/rootfs/etc/passwd; \
	printf 'root:x:0:\nnonroot:x:$(DOCKER_UID):\n' > $(DOCKER_STAGE)/rootfs/etc/group; \
	cp $(DOCKER_CA_BUNDLE) $(DOCKER_STAGE)/rootfs/etc/ssl/certs/ca-certificates.crt

## docker: the container image, a manifest list DOCKER_IMAGE (scp_exporter:$(VERSION)) of DOCKER_PLATFORMS (linux/amd64, linux/arm64), built by buildah (no Docker engine, no RUN steps, so no emulation) from the crossbuild binaries on DOCKER_BASE (scratch, or DOCKER_BASE=<image> already in buildah's storage or pullable), the build context DOCKER_STAGE that docker-stage writes
docker: docker-stage
	@set -e; export LC_ALL=C TZ=UTC; $(RELEASE_TIME); \
	if $(BUILDAH) manifest inspect $(DOCKER_IMAGE) >/dev/null 2>&1; then $(BUILDAH) manifest rm $(DOCKER_IMAGE) >/dev/null; fi; \
	for platform in $(DOCKER_PLATFORMS); do \
	  os=$${platform%/*}; arch=$${platform#*/}; \
	  echo ">> $(DOCKER_IMAGE) $$os/$$arch on $(DOCKER_BASE) (created $$created)"; \
	  $(BUILDAH) build --quiet --platform $$os/$$arch --manifest $(DOCKER_IMAGE) --timestamp $$epoch --identity-label=false \
	    --build-arg BASE=$(DOCKER_BASE) --build-arg OS=$$os --build-arg ARCH=$$arch \
	    --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg CREATED=$$created \
	    --build-arg SOURCE='$(DOCKER_SOURCE)' -f Dockerfile $(DOCKER_STAGE) >/dev/null; \
	done
	$(BUILDAH) manifest inspect $(DOCKER_IMAGE) | grep -E '"(architecture|os)"'

## docker-push: push the manifest list built by make docker, with all its images, to DOCKER_REPOSITORY (an image name, registry included) as each of DOCKER_PUSH_TAGS ($(VERSION), and latest unless VERSION is a pre-release, with a "-"); log in first with buildah login
docker-push:
	@if [ -z "$(DOCKER_REPOSITORY)" ]; then echo "docker-push: set DOCKER_REPOSITORY to the image name to push to, registry included" >&2; exit 1; fi
	@set -e; for tag in $(DOCKER_PUSH_TAGS); do \
	  echo ">> $(DOCKER_REPOSITORY):$$tag"; \
	  $(BUILDAH) manifest push --all $(DOCKER_IMAGE) $(DOCKER_PUSH_TRANSPORT)$(DOCKER_REPOSITORY):$$tag; \
	done

## sbom-tool: cyclonedx-gomod, which writes the release's SBOMs (pinned; built once into .build/ through the Go module proxy, -trimpath so that its own hash in each SBOM does not depend on where it was built)
sbom-tool: $(CYCLONEDX_GOMOD)

$(CYCLONEDX_GOMOD):
	GOBIN=$(CURDIR)/$(dir $(CYCLONEDX_GOMOD)) $(GO) install -trimpath github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

## lint-workflows: actionlint over .github/workflows (built from the Go module proxy into .build/)
ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := .build/actionlint-$(ACTIONLINT_VERSION)/actionlint
lint-workflows: $(ACTIONLINT)
	$(ACTIONLINT) -no-color

$(ACTIONLINT):
	GOBIN=$(CURDIR)/$(dir $(ACTIONLINT)) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

HELM_VERSION ?= v3.22.0
# The Kubernetes minor version of the k8s.io modules HELM_VERSION uses: what
# `helm template` and `helm lint` assume a cluster runs, as in helm's own
# release builds (without it they would assume 1.20).
HELM_K8S_MINOR ?= 37
HELM := .build/helm-$(HELM_VERSION)/helm
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_K8S_MINOR) \
  -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_K8S_MINOR)

## helm: the helm binary the chart tests use (pinned; built once into .build/ through the Go module proxy, several minutes on 2 cores)
helm: $(HELM)

$(HELM):
	GOBIN=$(CURDIR)/$(dir $(HELM)) $(GO) install -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

## test-chart: helm lint and helm template of charts/scp-exporter, the rendered objects decoded strictly into the Kubernetes and prometheus-operator Go types and validated against the Kubernetes OpenAPI schema and the prometheus-operator CRDs (both fetched once with go mod download, about 26 MB, a few seconds), the NOTES rendered (module charts/test, kept out of the main go.mod)
test-chart: $(HELM)
	cd charts/test && $(GO) vet ./... && HELM=$(CURDIR)/$(HELM) $(GO) test -count=1 ./...

CHART_DIR         := charts/scp-exporter
CHART_PACKAGE_DIR ?= .build/chart
# The image the packaged chart runs by default: the repository the image was
# pushed to (registry included); empty keeps the chart's placeholder.
IMAGE_REPOSITORY  ?=

## chart-package: the chart packaged (helm package) into CHART_PACKAGE_DIR (.build/chart), its image.repository set to IMAGE_REPOSITORY when given (in a copy; charts/scp-exporter is left as is), as the release workflow pushes it; fails when the chart's appVersion is not VERSION (the image tag it defaults to)
chart-package: $(HELM)
	@set -e; \
	app=$$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' $(CHART_DIR)/Chart.yaml); \
	if [ "$$app" != "$(VERSION)" ]; then echo "chart-package: $(CHART_DIR)/Chart.yaml appVersion is '$$app', VERSION is $(VERSION)" >&2; exit 1; fi; \
	case '$(IMAGE_REPOSITORY)' in *[!A-Za-z0-9._/:-]*) echo "chart-package: IMAGE_REPOSITORY '$(IMAGE_REPOSITORY)' is not an image name" >&2; exit 1;; esac; \
	rm -rf $(CHART_PACKAGE_DIR); mkdir -p $(CHART_PACKAGE_DIR)/src; \
	cp -R $(CHART_DIR) $(CHART_PACKAGE_DIR)/src/; \
	values=$(CHART_PACKAGE_DIR)/src/$(notdir $(CHART_DIR))/values.yaml; \
	if [ -n '$(IMAGE_REPOSITORY)' ]; then \
	  sed -i.orig 's|^  repository: scp_exporter$$|  repository: $(IMAGE_REPOSITORY)|' "$$values"; \
	  if cmp -s "$$values" "$$values.orig"; then echo "chart-package: no '  repository: scp_exporter' line under image: in $(CHART_DIR)/values.yaml" >&2; exit 1; fi; \
	  rm "$$values.orig"; \
	  echo ">> image.repository: $(IMAGE_REPOSITORY)"; \
	fi; \
	$(HELM) package $(CHART_PACKAGE_DIR)/src/$(notdir $(CHART_DIR)) --destination $(CHART_PACKAGE_DIR); \
	rm -rf $(CHART_PACKAGE_DIR)/src

## lint-chart: golangci-lint (as make lint) over the chart tests' module
lint-chart: $(GOLANGCI_LINT)
	cd charts/test && $(CURDIR)/$(GOLANGCI_LINT) run ./...

## lint-mixin: golangci-lint (as make lint) over the mixin generator's and dashboard tests' module
lint-mixin: $(GOLANGCI_LINT)
	cd scripts/mixin && $(CURDIR)/$(GOLANGCI_LINT) run ./...

clean:
	rm -rf $(BIN) .build
