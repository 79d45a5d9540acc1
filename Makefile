# rolltest — every entry point a developer or CI needs.
#
#   make demo     the main job on an embedded default: a local rolling update, no cluster
#   make test     unit and integration tests (loopback servers, real Chromium when present)
#   make e2e      the end-to-end suite on a real single-node Kubernetes built in the repo
#   make bench    rolltest side by side with wrk, bombardier, vegeta and hey
#   make release  the release archives for linux/darwin × amd64/arm64, with SHA256SUMS

GO        ?= go
STATE     := $(CURDIR)/.state
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

# Packages whose tests need the cluster (they skip without it, fail under make e2e).
E2E_PKGS  ?= ./test/e2e/... ./pkg/rollout/...

.PHONY: all build demo test test-norace test-short lint fuzz bench bench-peers bench-rate clean help install-plugin release

all: build

## build: the rolltest and testapp binaries into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/rolltest ./cmd/rolltest
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/testapp ./testapp

## demo: a local rolling update under load, measured and explained (writes report.html)
demo: build
	$(BIN)/rolltest demo --html report.html --json report.json

## test: every test that needs no cluster, with the race detector, then test-norace
test:
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) test-norace

## test-norace: the allocation tests, which skip under -race (the race detector allocates on its own)
test-norace:
	$(GO) test -count=1 -timeout 10m -run 'DoesNotAllocate|Allocs' ./...

## test-short: the quick subset (no subprocesses, no browser)
test-short:
	$(GO) test -short -count=1 ./...

## lint: gofmt, go vet and staticcheck must all be silent
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOBIN=$(STATE)/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATE)/tools/staticcheck ./...

## fuzz: run every fuzz target for FUZZTIME each (default 20s)
FUZZTIME ?= 20s
fuzz:
	@set -e; for spec in $$($(GO) test -list 'Fuzz.*' ./... | awk '/^Fuzz/ {print pkg" "$$1} /^ok/ {pkg=$$2}' | tr ' ' ':'); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; echo "fuzz $$pkg $$fn"; \
		$(GO) test -run XXX -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; done

## bench: go benchmarks of the hot paths, then the peer comparison
bench: bench-go bench-peers

bench-go:
	$(GO) test -run XXX -bench . -benchmem ./pkg/loadgen/

bench-peers:
	bash bench/peers.sh

bench-rate:
	bash bench/rate.sh

## install-plugin: rolltest as the kubectl plugin `kubectl rolltest`, with its completion, into PLUGIN_DIR (default ~/.local/bin, which must be on the PATH)
PLUGIN_DIR ?= $(HOME)/.local/bin
install-plugin: build
	install -d $(PLUGIN_DIR)
	install -m 0755 $(BIN)/rolltest $(PLUGIN_DIR)/kubectl-rolltest
	install -m 0755 dist/kubectl_complete-rolltest $(PLUGIN_DIR)/kubectl_complete-rolltest

## release: static binaries for RELEASE_PLATFORMS as dist/release/rolltest_VERSION_OS_ARCH.tar.gz, and SHA256SUMS
# Each archive holds the binary, the README, the kubectl completion script and
# the CI script the GitLab and Jenkins templates run (ci/run.sh). GNU tar's
# fixed order, owner and mtime and gzip -n make an archive depend on its
# files only.
RELEASE_DIR       := dist/release
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
release:
	rm -rf $(RELEASE_DIR)
	@set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; name=rolltest_$(VERSION)_$${os}_$${arch}; stage=$(RELEASE_DIR)/$$name; \
		echo "build $$name"; mkdir -p $$stage/ci; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$stage/rolltest ./cmd/rolltest; \
		cp README.md dist/kubectl_complete-rolltest $$stage/; cp dist/ci/run.sh $$stage/ci/; \
		tar -C $$stage --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - rolltest README.md kubectl_complete-rolltest ci | gzip -n > $(RELEASE_DIR)/$$name.tar.gz; \
		rm -rf $$stage; done
	cd $(RELEASE_DIR) && sha256sum *.tar.gz > SHA256SUMS
	@cat $(RELEASE_DIR)/SHA256SUMS

clean:
	rm -rf $(BIN) $(RELEASE_DIR) report.html report.json

help:
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

include test/cluster/cluster.mk
