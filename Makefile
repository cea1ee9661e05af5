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
LDFLAGS   := -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) -X $(PKG).Branch=$(BRANCH) \
             -X $(PKG).BuildDate=$(BUILD_DATE) -X $(PKG).BuildUser=$(BUILD_USER)
DOCKER_IMAGE ?= scp_exporter:$(VERSION)

.PHONY: all build fake test fuzz bench loadtest lint lint-workflows demo docker release sbom-tool helm test-chart lint-chart chart-files test-dashboard lint-dashboard clean

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

## docker: the container image (needs a Docker engine; none runs on the dev machines)
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	  --build-arg BRANCH=$(BRANCH) --build-arg BUILD_DATE=$(BUILD_DATE) -t $(DOCKER_IMAGE) .

RELEASE_DIR       ?= .build/release
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
RELEASE_FILES     := LICENSE README.md CHANGELOG.md config.example.yml
# Directories whose tracked files each archive carries: the alerting and
# recording rules with their promtool tests, the Grafana dashboard, the
# systemd unit, and the monitoring mixin once there is one.
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

CYCLONEDX_GOMOD_VERSION ?= v1.10.0
CYCLONEDX_GOMOD := .build/cyclonedx-gomod-$(CYCLONEDX_GOMOD_VERSION)/cyclonedx-gomod

## release: scp_exporter-$(VERSION).<os>-<arch>.tar.gz for each of RELEASE_PLATFORMS, each holding a directory with the static binary, LICENSE, README.md, CHANGELOG.md, config.example.yml, alerts/, dashboards/ and examples/systemd/; beside each its CycloneDX SBOM (<archive name>.cdx.json, from the binary's module information); and sha256sums.txt; in RELEASE_DIR (.build/release). Reproducible: two runs of one commit give identical files. On a tagged commit the tag must be v$(VERSION). Needs git, GNU tar, gzip and sha256sum.
release: $(CYCLONEDX_GOMOD)
	@tag=$$(git describe --exact-match --tags HEAD 2>/dev/null || true); \
	if [ -n "$$tag" ] && [ "$$tag" != "v$(VERSION)" ]; then \
	  echo "release: HEAD is tagged $$tag but VERSION is $(VERSION) (want tag v$(VERSION))" >&2; exit 1; fi
	rm -rf $(RELEASE_DIR)
	@mkdir -p $(RELEASE_DIR)
	@set -e; export LC_ALL=C TZ=UTC; \
	epoch=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || true)}; \
	case "$$epoch" in ''|*[!0-9]*) echo "release: no commit time (want a git checkout, or SOURCE_DATE_EPOCH in seconds; got '$$epoch')" >&2; exit 1;; esac; \
	date=$$(date -u -d "@$$epoch" +%Y%m%d-%H:%M:%S 2>/dev/null || date -u -r "$$epoch" +%Y%m%d-%H:%M:%S); \
	files=$$(git ls-files -- $(RELEASE_DIRS)); \
	for platform in $(RELEASE_PLATFORMS); do \
	  os=$${platform%/*}; arch=$${platform#*/}; name=$(BIN)-$(VERSION).$$os-$$arch; \
	  echo ">> $$name.tar.gz (file times and build date $$date UTC, from SOURCE_DATE_EPOCH=$$epoch)"; \
	  mkdir -p $(RELEASE_DIR)/$$name; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=false \
	    -ldflags "-X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) -X $(PKG).Branch=$(BRANCH) -X $(PKG).BuildDate=$$date -X $(PKG).BuildUser=$(RELEASE_BUILD_USER)" \
	    -o $(RELEASE_DIR)/$$name/$(BIN) .; \
	  for f in $(RELEASE_FILES) $$files; do install -D -m 0644 "$$f" "$(RELEASE_DIR)/$$name/$$f"; done; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(CYCLONEDX_GOMOD) bin -json -noserial -notimestamp -version v$(VERSION) \
	    -output $(RELEASE_DIR)/$$name.cdx.json $(RELEASE_DIR)/$$name/$(BIN) 2>/dev/null; \
	  tar -C $(RELEASE_DIR) --format=gnu --sort=name --mtime="@$$epoch" --owner=0 --group=0 --numeric-owner \
	    --mode=u+rwX,go+rX,go-w -cf - $$name | gzip -9n > $(RELEASE_DIR)/$$name.tar.gz; \
	  rm -rf $(RELEASE_DIR)/$$name; \
	done; \
	cd $(RELEASE_DIR) && sha256sum $(BIN)-$(VERSION).*.tar.gz $(BIN)-$(VERSION).*.cdx.json > sha256sums.txt
	@cat $(RELEASE_DIR)/sha256sums.txt

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

## test-chart: helm lint and helm template of charts/scp-exporter, the rendered objects decoded strictly into the Kubernetes and prometheus-operator Go types (module charts/test, kept out of the main go.mod)
test-chart: $(HELM)
	cd charts/test && $(GO) vet ./... && HELM=$(CURDIR)/$(HELM) $(GO) test -count=1 ./...

## chart-files: copy alerts/scp_exporter.rules.yml into the chart (charts/scp-exporter/files/); make test-chart fails while the copy differs
chart-files:
	cp alerts/scp_exporter.rules.yml charts/scp-exporter/files/scp_exporter.rules.yml

## lint-chart: golangci-lint (as make lint) over the chart tests' module
lint-chart: $(GOLANGCI_LINT)
	cd charts/test && $(CURDIR)/$(GOLANGCI_LINT) run ./...

## test-dashboard: the dashboard the mixin makes (mixin/dashboards): its shape, its variables, the series its queries read, and the share queries run on a PromQL engine (module mixin/dashboards/test, kept out of the main go.mod)
test-dashboard:
	cd mixin/dashboards/test && $(GO) vet ./... && $(GO) test -count=1 ./...

## lint-dashboard: golangci-lint (as make lint) over the dashboard tests' module
lint-dashboard: $(GOLANGCI_LINT)
	cd mixin/dashboards/test && $(CURDIR)/$(GOLANGCI_LINT) run ./...

clean:
	rm -rf $(BIN) .build
