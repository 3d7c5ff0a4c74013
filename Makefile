# The README's two commands: `make dev` (kind + dev stack) and `make test`.
PYTHON ?= python3
VENV ?= .venv
# Real CRDs the schema tests validate against (`make crds` downloads them into crds-download/).
MAAS_CRDS_DIR ?= ../shared/crds
KIND_CLUSTER ?= maas
# The CLI `make dev` installs when none (or one older than 3.187.0) is on PATH: CI's pin.
PULUMI_VERSION ?= 3.272.0
PREFLIGHT = $(PYTHON) scripts/preflight.py
KIND_VERSION ?= v0.30.0
TOOLS := $(HOME)/.local/bin
export PATH := $(HOME)/.pulumi/bin:$(TOOLS):$(PATH)

.PHONY: help test cluster dev crds preview up smoke
.DEFAULT_GOAL := help

help:
	@echo "make test     run the test suite (needs only Python 3.10+; builds .venv)"
	@echo "make dev      kind cluster 'maas' + the dev stack (needs Docker; installs kind and the Pulumi CLI if missing)"
	@echo "make preview  pulumi preview of the dev stack, with the policy pack"
	@echo "make up       pulumi up of the dev stack, with the policy pack"
	@echo "make smoke    after make dev: every served name answers through the gateway"
	@echo "make crds     download the CRDs the dev stack pins, for MAAS_CRDS_DIR=crds-download make test"

$(VENV)/installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

test: $(VENV)/installed
	MAAS_CRDS_DIR=$(MAAS_CRDS_DIR) $(VENV)/bin/python -m pytest -q -rs

# The CRDs of the versions the dev stack pins, for the schema tests (needs internet).
crds: $(VENV)/installed
	$(VENV)/bin/python -m llm_maas.models.crds --stack dev --out crds-download

# The kind cluster the dev stack is pinned to. Its kubeconfig goes to its own file so `pulumi up`
# can never reach another cluster.
cluster:
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "kind needs a running Docker engine"; exit 1; }
	@command -v kind >/dev/null || { mkdir -p $(TOOLS) && \
	  curl -fsSLo $(TOOLS)/kind https://kind.sigs.k8s.io/dl/$(KIND_VERSION)/kind-$$(uname | tr A-Z a-z)-$$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/') && \
	  chmod +x $(TOOLS)/kind; }
	@kind get clusters 2>/dev/null | grep -qx $(KIND_CLUSTER) || kind create cluster --name $(KIND_CLUSTER)
	@mkdir -p .kube && kind get kubeconfig --name $(KIND_CLUSTER) > .kube/$(KIND_CLUSTER).yaml
	@mkdir -p $(HOME)/.pulumi-local

dev: cluster
	@$(PREFLIGHT) --cli 2>/dev/null || curl -fsSL https://get.pulumi.com | sh -s -- --version $(PULUMI_VERSION)
	@$(PREFLIGHT) --cli
	$(DEV_ENV); \
	pulumi stack select dev --create --secrets-provider passphrase && \
	pulumi install && \
	pulumi up --stack dev --yes --skip-preview --policy-pack policy
	@echo "Gateway: kubectl --kubeconfig .kube/$(KIND_CLUSTER).yaml -n agentgateway-system port-forward svc/inference-gateway 8080:80"

# The dev stack's own kubeconfig and local backend, for any command run by hand too.
DEV_ENV = export KUBECONFIG=$(CURDIR)/.kube/$(KIND_CLUSTER).yaml PULUMI_BACKEND_URL=file://$(HOME)/.pulumi-local \
	  PULUMI_CONFIG_PASSPHRASE="$${PULUMI_CONFIG_PASSPHRASE-}"

preview:
	@$(DEV_ENV); $(PREFLIGHT) --stack dev
	@$(DEV_ENV); pulumi preview --stack dev --policy-pack policy

up:
	@$(DEV_ENV); $(PREFLIGHT) --stack dev
	@$(DEV_ENV); pulumi up --stack dev --policy-pack policy

# After `make dev`: every served name answers through the gateway with the playground key.
smoke: $(VENV)/installed
	@$(DEV_ENV); $(PREFLIGHT) --stack dev --tool kubectl --file .kube/$(KIND_CLUSTER).yaml
	@$(DEV_ENV); \
	outputs=$$(pulumi stack output --stack dev --json --show-secrets) || { echo "error: the dev stack has no outputs yet: run make dev" >&2; exit 2; }; \
	kubectl -n agentgateway-system port-forward svc/inference-gateway 8080:80 >/dev/null 2>&1 & forward=$$!; \
	trap 'kill $$forward 2>/dev/null || true' EXIT; sleep 3; \
	kill -0 $$forward 2>/dev/null || { echo "error: kubectl port-forward to the gateway did not start (is the kind cluster up? make dev)" >&2; exit 2; }; \
	echo "$$outputs" | $(VENV)/bin/python -m llm_maas.smoke --url http://localhost:8080 --stack-outputs - --consumer playground
