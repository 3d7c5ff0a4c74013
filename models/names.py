"""Kubernetes naming rules and the one place where pool names and pool labels are derived."""

from __future__ import annotations

import re

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# A pool name is the stem of every per-model object (`<pool>-epp`, `<pool>-server`, ...), so it
# must leave room for the longest suffix inside the 63-character label limit.
POOL_NAME_MAX = 48

# The only label the InferencePool selects on. It derives from the pool name alone, so changing
# a model's image, replicas or args never touches a selector (selectors are immutable).
POOL_LABEL = "maas.llm-d.ai/pool"

DNS1035_RULE = (
    "a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending "
    "with a letter or digit"
)


def is_dns1035_label(value: str, max_length: int = 63) -> bool:
    return len(value) <= max_length and bool(DNS1035_LABEL.match(value))


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and bool(DNS1123_LABEL.match(value))


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(DNS1123_SUBDOMAIN.match(value))


def derive_pool_name(model_name: str) -> str:
    """`Qwen/Qwen3-0.6B` -> `qwen3-06b`: the last path segment, lowercased, dots dropped (as the
    OpenShift guide names its pools by hand), other symbols turned into '-', trimmed to
    POOL_NAME_MAX. May return a string that is not a valid label (e.g. `123`); the caller checks."""
    stem = model_name.rsplit("/", 1)[-1].lower().replace(".", "")
    stem = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    return stem[:POOL_NAME_MAX].rstrip("-")


# Objects named `<gateway>-<suffix>` whose names must also fit a DNS label: Services, and the
# `app.kubernetes.io/name` label every object carries. agentgateway names the data plane's
# Deployment and Service after the Gateway itself, so the Gateway's name is a DNS-1035 label too.
# The model list always exists; the others only with the feature that creates them, so the
# config checks those where they apply (models/identity.py).
MODEL_LIST = "models"
RATE_LIMIT = "ratelimit"
RATE_LIMIT_STORE = "ratelimit-redis"
DATA_PLANE = "data-plane"
MODEL_PRICES = "prices"
GATEWAY_NAME_MAX = 63 - max(len(f"-{suffix}") for suffix in (MODEL_LIST, MODEL_PRICES))


def gateway_object(gateway: str, suffix: str) -> str:
    return f"{gateway}-{suffix}"


def pool_selector(pool_name: str) -> dict[str, str]:
    return {POOL_LABEL: pool_name}


def objective_name(pool_name: str, tier: str) -> str:
    """The InferenceObjective of `tier` in one pool. An endpoint picker looks objectives up by
    name and keeps only its own pool's, and pools share a namespace, so the name carries the pool;
    the dot cannot occur in either part, so no two (pool, tier) pairs share a name."""
    return f"{pool_name}.{tier}"

# The pod label the llm-d router's prefill-filter and decode-filter read
# (pkg/epp/framework/plugins/scheduling/filter/bylabel/roles.go at v0.10.0).
ROLE_LABEL = "llm-d.ai/role"
PREFILL = "prefill"
DECODE = "decode"
