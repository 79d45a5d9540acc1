# rolltest — every entry point a developer or CI needs.
#
#   make demo     the main job on an embedded default: a local rolling update, no cluster
#   make test     unit and integration tests (loopback servers, real Chromium when present)
#   make e2e      the end-to-end suite on a real single-node Kubernetes built in the repo
#   make bench    rolltest side by side with wrk, bombardier, vegeta and hey
#   make release  the release archives for linux/darwin × amd64/arm64, with SHA256SUMS
#   make image    rolltest's container image for agent pods, as a tarball (no Docker, no registry)

GO        ?= go
STATE     := $(CURDIR)/.state
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

# Packages whose tests need the cluster (they skip without it, fail under make e2e).
E2E_PKGS  ?= ./test/e2e/... ./pkg/rollout/...

.PHONY: all build demo test test-norace test-short lint fuzz bench bench-peers bench-rate clean help install-plugin release image

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

## image: rolltest's image for agent pods as dist/image/rolltest-VERSION.tar (tag IMAGE_TAG), made without Docker or a registry
# One layer, distroless/static-like: the static binary at /rolltest (the
# entrypoint), the CA bundle of this machine so https targets verify in the
# pod, /etc/passwd and /etc/group with nonroot, /tmp; user 65532:65532, numeric
# so that runAsNonRoot can verify it; no shell. mkimg (test/cluster/mkimg, its
# own module) writes it; the test cluster's copy is used when it is newer than
# mkimg's sources, otherwise one is built into .state/tools. Same sources and
# VERSION, same image digest.
IMAGE_DIR  := dist/image
IMAGE_FILE  = $(IMAGE_DIR)/rolltest-$(VERSION).tar
IMAGE_TAG  ?= rolltest.local/rolltest:$(VERSION)
IMAGE_ARCH ?= amd64
CA_BUNDLE  ?= /etc/ssl/certs/ca-certificates.crt
MKIMG_DIR  := test/cluster/mkimg
MKIMG_SRC  := $(filter-out %_test.go,$(wildcard $(MKIMG_DIR)/*.go)) $(MKIMG_DIR)/go.mod $(MKIMG_DIR)/go.sum
image:
	@test -f $(CA_BUNDLE) || { echo "make image: no CA bundle at $(CA_BUNDLE): https targets could not be verified in the pod; install ca-certificates or set CA_BUNDLE=/path/to/bundle.pem" >&2; exit 1; }
	@set -e; mkimg=$(STATE)/cluster/bin/mkimg; \
	if [ ! -x "$$mkimg" ] || [ -n "$$(find $(MKIMG_SRC) -newer "$$mkimg")" ]; then \
		mkimg=$(STATE)/tools/mkimg; \
		if [ ! -x "$$mkimg" ] || [ -n "$$(find $(MKIMG_SRC) -newer "$$mkimg")" ]; then \
			echo "build $$mkimg"; mkdir -p $(STATE)/tools; \
			(cd $(MKIMG_DIR) && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o "$$mkimg" .); fi; fi; \
	echo "build rolltest $(VERSION) for linux/$(IMAGE_ARCH)"; mkdir -p $(STATE)/image $(IMAGE_DIR); \
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(STATE)/image/rolltest-linux-$(IMAGE_ARCH) ./cmd/rolltest; \
	"$$mkimg" -bin $(STATE)/image/rolltest-linux-$(IMAGE_ARCH) -entry /rolltest -user 65532:65532 -passwd -arch $(IMAGE_ARCH) \
		-file $(CA_BUNDLE):/etc/ssl/certs/ca-certificates.crt -tag '$(IMAGE_TAG)' -out $(IMAGE_FILE)
	@echo "image: $(IMAGE_FILE)"
	@echo "tag:   $(IMAGE_TAG)"

clean:
	rm -rf $(BIN) $(RELEASE_DIR) $(IMAGE_DIR) report.html report.json

help:
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

include test/cluster/cluster.mk
