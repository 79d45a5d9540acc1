# Make targets for the single-node Kubernetes test cluster (test/cluster).
# Included by the top-level Makefile: `include test/cluster/cluster.mk`.
# All work is done by cluster.sh, which finds the repository root from its own
# location, so these targets work from any include path and with make -C.

ROLLTEST_CLUSTER_DIR := $(abspath $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST)))))
CLUSTER_SH := bash $(ROLLTEST_CLUSTER_DIR)/cluster.sh
# Packages `make e2e` tests against the cluster (relative to the repo root).
E2E_PKGS ?= ./test/e2e/...

.PHONY: cluster-build cluster-up cluster-down cluster-images cluster-status cluster-clean-check e2e

## cluster-build: build Kubernetes v1.34.4, etcd and the helpers into .state/cluster/bin
cluster-build:
	@$(CLUSTER_SH) build

## cluster-up: start the cluster (idempotent); kubeconfig at .state/cluster/kubeconfig
cluster-up:
	@$(CLUSTER_SH) up

## cluster-down: stop the cluster and undo every host change (idempotent)
cluster-down:
	@$(CLUSTER_SH) down

## cluster-images: rebuild the testapp (v1, v2), pause and rolltest (:e2e) images and import them
cluster-images:
	@$(CLUSTER_SH) images

## cluster-status: exit 0 when the cluster is up and healthy
cluster-status:
	@$(CLUSTER_SH) status

## cluster-clean-check: verify the host matches the snapshot taken before cluster-up
cluster-clean-check:
	@$(CLUSTER_SH) check-clean

## e2e: cluster-up, ROLLTEST_E2E=1 go test $(E2E_PKGS), cluster-down (always), cluster-clean-check
e2e:
	@$(CLUSTER_SH) e2e $(E2E_PKGS)
