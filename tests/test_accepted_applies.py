"""Accepted means applies: every config the schema accepts yields objects the API server, the
controllers and the servers accept, and a gateway that routes every served name to a pod that
serves it. Configs are generated across every key and near every limit (names at their longest,
budgets at the service's bound, namespaces that may collide, pod-spec fragments valid and not);
each is either refused by `load_config` (with a key path) or run through the real program and
checked against the CRDs, the API server's semantic rules (k8s_semantics) and the gateway
simulator.

CI runs a fixed number of derandomized examples; `MAAS_PROPERTY_EXAMPLES=500 make test` runs more.
"""

from __future__ import annotations

import json
import os
import string
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schema_check
from gateway_sim import GatewaySimulator, RateLimitSimulator, lora_modules
from harness import run_program
from llm_maas.models import ConfigError, load_config

EXAMPLES = int(os.environ.get("MAAS_PROPERTY_EXAMPLES", "20"))

LOWER = string.ascii_lowercase
LOWER_DIGITS = LOWER + string.digits


@st.composite
def dns_label(draw, max_size: int = 63, first: str = LOWER) -> str:
    """A DNS label, often at its longest: the limits are where derived names break."""
    size = draw(st.one_of(st.just(max_size), st.integers(1, max_size)))
    head = draw(st.sampled_from(first))
    if size == 1:
        return head
    middle = draw(st.text(LOWER_DIGITS + "-", min_size=size - 2, max_size=size - 2))
    return head + middle + draw(st.sampled_from(LOWER_DIGITS))


def client_name(prefix: str) -> st.SearchStrategy[str]:
    return st.builds(lambda org, tail: f"{org}/{prefix}{tail}", st.sampled_from(["org", "Qwen", "meta-llama"]),
                     st.text(string.ascii_letters + string.digits + "._-", min_size=0, max_size=40))  # fmt: skip


# Each risky key draws from values the API server or the server accepts (first) and values they
# refuse (second); an example is either careful (accepted values only, so it should apply) or
# not (anything goes, so refusals are exercised).
QUALIFIED_KEYS = (["nvidia.com/gpu.product", "node-role.kubernetes.io/gpu", "pool", "a" * 63], ["gpu type", "/bad", "a" * 64])
LABEL_VALUES = (["A100-80GB", "true", "", "x" * 63], ["has space", "x" * 64])
TOLERATIONS = (
    [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"},
        {"operator": "Exists"},
        {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
    ],
    [
        {"value": "x"},
        {"key": "k", "operator": "Exists", "tolerationSeconds": 30},
        {"key": "k", "operator": "Exists", "value": "v"},
        {"key": "k", "value": "not a label value"},
    ],
)
RESOURCES = (
    [{"cpu": "10m", "memory": "64Mi", "memoryLimit": "256Mi"}, {"cpu": "1", "memory": "1Gi"},
     {"cpu": "0.5", "memory": "1.5Gi", "memoryLimit": "1536Mi"}],
    [{"cpu": "500m", "memory": "2Gi", "memoryLimit": "1Gi"}],
)  # fmt: skip
EXTRA_ARGS = (
    [[], ["--enable-prefix-caching"], ["--enable-lora-bias"], ["--gpu-memory-utilization=0.85"]],
    [["--port", "9000"], ["--served_model_name=x"], ["-tp", "2"], ["--max-model", "4096"], ["--lora-modules", "x=y"],
     ["--kv-transfer-config.kv_role", "x"]],
)  # fmt: skip
SOURCES = (["org/weights", "org/lora=v2,final", "/models/a b", "s3://bucket/path=x"], ["-rf"])
GPU_RESOURCES = (["nvidia.com/gpu", "amd.com/gpu"], ["gpu", "kubernetes.io/gpu"])
STORAGE_CLASSES = (["fast-ssd", "a.b"], ["Fast_SSD"])
SIZES = (["20Gi", "1.5Ti", "512Mi"], ["0"])
TIMEOUTS = (["300s", "20m", "24h", "1s"], ["0s", "25h"])
PRICES = (
    [{"inputPerMillion": 0.15, "outputPerMillion": 0.6}, {"inputPerMillion": 0, "outputPerMillion": 1000000, "cachedInputPerMillion": 0.000001}],
    [{"inputPerMillion": -1, "outputPerMillion": 1}, {"inputPerMillion": 1, "outputPerMillion": 0.0000001}],
)
SPEND = ([0.0001, 25, 429496.7295, None], [0, 429497])


def pick(draw, careful: bool, choices: tuple[list, list]):
    good, bad = choices
    return draw(st.sampled_from(good if careful else good + bad))


@st.composite
def model(draw, index: int, careful: bool) -> dict:
    vllm = draw(st.booleans())
    entry: dict = {"name": draw(client_name(f"m{index}-")), "server": "vllm" if vllm else "simulator"}
    nodes = draw(st.sampled_from([1, 1, 2])) if vllm else 1
    # Every node of a multi-node model loads its adapters itself: from the Hub, not a local path.
    sources = (["org/lora=v2,final", "s3://bucket/path=x"], []) if careful and nodes > 1 else SOURCES
    # Now and then more names than one HTTPRoute holds, so the route splits appear too.
    adapter_count = draw(st.sampled_from([0, 0, 0, 1, 3, 3, 3, 129]))
    entry["adapters"] = [
        {"name": f"m{index}-lora-{i}", "source": pick(draw, careful, sources)} if vllm else f"m{index}-lora-{i}"
        for i in range(adapter_count)
    ]
    if draw(st.booleans()) or (careful and nodes > 1):
        entry["pool"] = f"p{index}" if careful else draw(st.one_of(dns_label(48), st.sampled_from(["p0-2", "p1-2"])))
    if vllm:
        entry["source"] = pick(draw, careful, SOURCES)
        entry["tensorParallel"] = draw(st.sampled_from([1, 2, 8]))
        entry["nodes"] = nodes
        entry["gpuResource"] = pick(draw, careful, GPU_RESOURCES)
        if draw(st.booleans()):
            entry["cacheStorageClass"] = pick(draw, careful, STORAGE_CLASSES)
            entry["cacheAccessMode"] = "ReadWriteMany"
        entry["cacheSize"] = pick(draw, careful, SIZES)
    entry["replicas"] = draw(st.integers(0, 3))
    if draw(st.booleans()):
        maximum = draw(st.integers(1, 64))
        entry["autoscaling"] = {"minReplicas": draw(st.integers(1, maximum)), "maxReplicas": maximum}
        entry.pop("replicas")
    if draw(st.integers(0, 3)) == 0 and entry.get("nodes", 1) == 1:
        entry["prefill"] = {"replicas": draw(st.integers(1, 2)), "resources": pick(draw, careful, RESOURCES),
                            "extraArgs": pick(draw, careful, EXTRA_ARGS), "nonCachedTokens": draw(st.integers(1, 4096))}
        if vllm:
            entry["prefill"]["tensorParallel"] = draw(st.sampled_from([1, 4]))
        if draw(st.booleans()):
            entry["prefill"]["autoscaling"] = {"minReplicas": 1, "maxReplicas": draw(st.integers(1, 8))}
            entry["prefill"].pop("replicas")
    if vllm:
        entry["maxModelLen"] = draw(st.sampled_from([None, 4096, 131072]))
        entry["maxLoraRank"] = draw(st.sampled_from([None, 8, 512]))
        entry["shmSize"] = pick(draw, careful, SIZES)
        entry["startupMinutes"] = draw(st.sampled_from([1, 60, 360]))
    if draw(st.booleans()):
        entry["price"] = pick(draw, careful, PRICES)
    entry["resources"] = pick(draw, careful, RESOURCES)
    entry["nodeSelector"] = labels(draw, careful)
    entry["tolerations"] = [pick(draw, careful, TOLERATIONS) for _ in range(draw(st.integers(0, 2)))]
    entry["extraArgs"] = pick(draw, careful, EXTRA_ARGS)
    entry["requestTimeout"] = pick(draw, careful, TIMEOUTS)
    return entry


def labels(draw, careful: bool) -> dict[str, str]:
    return {pick(draw, careful, QUALIFIED_KEYS): pick(draw, careful, LABEL_VALUES) for _ in range(draw(st.integers(0, 2)))}


@st.composite
def stack_config(draw) -> tuple[dict[str, str], bool]:
    # Three careful examples in four (hypothesis's simplest draw, 0, is careful).
    careful = draw(st.integers(0, 3)) != 3
    models = [draw(model(i, careful)) for i in range(draw(st.integers(1, 3)))]
    names = [m["name"] for m in models] + [a if isinstance(a, str) else a["name"] for m in models for a in m["adapters"]]
    tiers = [{"name": f"t{i}-" + draw(dns_label(60)), "priority": draw(st.integers(-1000, 1000))} for i in range(draw(st.integers(0, 2)))]
    teams = [{"name": f"team{i}", "spendPerDay": pick(draw, careful, SPEND)} for i in range(draw(st.integers(0, 2)))]
    consumers = []
    for i in range(draw(st.integers(0, 3))):
        consumer: dict = {"name": f"c{i}-" + draw(dns_label(58))}
        if draw(st.booleans()):
            consumer["models"] = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        for budget in ("tokensPerMinute", "requestsPerMinute"):
            if draw(st.booleans()):
                consumer[budget] = draw(st.sampled_from([1, 200_000, 2**32 - 1] + ([] if careful else [2**32])))
        if tiers and draw(st.booleans()):
            consumer["tier"] = tiers[0]["name"]
        if teams and draw(st.booleans()):
            consumer["team"] = draw(st.sampled_from([team["name"] for team in teams]))
        consumers.append(consumer)
    # Careful: one distinct namespace each (the long one at the limit); otherwise any may collide.
    namespaces = ["llm-d", "agentgateway-system", "monitoring", "keda", "lws-system", draw(dns_label(63))]
    order = draw(st.permutations(namespaces)) if careful else [draw(st.sampled_from(namespaces)) for _ in namespaces]
    monitored = any("autoscaling" in m or "autoscaling" in m.get("prefill", {}) for m in models) or draw(st.booleans())
    gateway_name = dns_label(47) if careful else st.one_of(dns_label(47), dns_label(56), dns_label(57), dns_label(12, first=LOWER_DIGITS))
    config = {
        "namespace": order[0],
        "gateway": {"name": draw(gateway_name), "namespace": order[1], "serviceType": "ClusterIP"},
        "models": models,
        "consumers": consumers,
        "tiers": tiers,
        "teams": [{k: v for k, v in team.items() if v is not None} for team in teams],
        "monitoring": {"enabled": monitored, "install": monitored, "namespace": order[2],
                       "podMonitorLabels": labels(draw, careful)},
        "autoscaling": {"install": True, "namespace": order[3]},
        "leaderWorkerSet": {"install": True, "namespace": order[4]},
        "epp": {"resources": pick(draw, careful, RESOURCES), "replicas": draw(st.integers(1, 3))},
        "networkPolicies": draw(st.booleans()),
        "rateLimit": {"failureMode": draw(st.sampled_from(["FailOpen", "FailClosed"]))},
    }  # fmt: skip
    if draw(st.integers(0, 4)) == 0:
        # OpenShift: the platform runs monitoring, KEDA's operator and LWS; the gateway gets a Route.
        config.update(platform="openshift", gateway={**config["gateway"], "route": {"host": "models.apps.example.com"}})
        for add_on in ("monitoring", "autoscaling", "leaderWorkerSet"):
            config[add_on] = {**config[add_on], "install": False}
    config["models"] = [{k: v for k, v in m.items() if v is not None} for m in models]
    return {f"maas:{key}": json.dumps(value) for key, value in config.items()}, careful


def _routes_every_name(run, config) -> None:
    # The real budget service, its counters cleared before each request: every name is tried once,
    # as a fresh minute would see it, whatever the consumer's budget.
    limiter = RateLimitSimulator(run.objects())
    gateway = GatewaySimulator(run.objects(), config.gateway.name, config.gateway.namespace, rate_limiter=limiter)
    keys = run.outputs["apiKeys"]
    for model_entry in config.models:
        for name in model_entry.served_names:
            allowed = [c.name for c in config.consumers if c.models is None or name in c.models]
            if config.consumers and not allowed:
                continue  # nobody may call it: the listing and routing tests cover refusals
            headers = {"Authorization": f"Bearer {keys[allowed[0]]}"} if config.consumers else {}
            limiter.counters.clear()
            outcome = gateway.request(json.dumps({"model": name}).encode(), headers)
            assert outcome.pool_name == model_entry.pool_name, (name, outcome.status, outcome.body)
            assert outcome.pods and all(name in pods.served_names for pods in outcome.pods), name


def _vllm_reads_its_adapters(run, config) -> None:
    for deployment in run.objects("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if container.get("command", [])[:2] == ["vllm", "serve"] and "--lora-modules" in container["args"]:
                start = container["args"].index("--lora-modules") + 1
                values = [a for a in container["args"][start:] if not a.startswith("--")][: len(config.served_names)]
                assert lora_modules(values), values  # parses as vLLM parses it, whatever the sources


def check(raw: dict[str, str], careful: bool = False) -> str:
    try:
        config = load_config(raw)
    except ConfigError as error:
        assert not careful, f"a careful config was refused: {error}"
        return "refused"
    run = run_program(raw)
    crds = schema_check.catalog(schema_check.crds_dir(), schema_check.crd_pins(config.versions))
    problems = schema_check.validate_all(run.objects(), crds)
    problems.pop("unchecked", None)
    assert problems == {}, json.dumps(problems, indent=1)[:3000]
    _routes_every_name(run, config)
    _vllm_reads_its_adapters(run, config)
    return "applied"


@schema_check.needs_crds
def test_every_accepted_config_applies_and_serves():
    outcomes: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(stack_config())
    def run(example):
        raw, careful = example
        outcomes[check(raw, careful)] += 1

    run()
    # Generated near the limits, many configs are refused; enough must apply for the test to mean something.
    assert outcomes["applied"] >= EXAMPLES // 5, outcomes


BUDGETS = {"maas:consumers": json.dumps([{"name": "c" * 63, "requestsPerMinute": 5}])}
MONITORED = {"maas:monitoring": json.dumps({"enabled": True, "install": True})}


@pytest.mark.parametrize(
    "gateway, pool, features",
    [("g" * 56, None, {}), ("g" * 52, None, MONITORED), ("g" * 47, None, {**BUDGETS, **MONITORED}), (None, "p" * 48, {**BUDGETS, **MONITORED})],
    ids=["gateway-56-plain", "gateway-52-monitored", "gateway-47-with-budgets", "pool-48"],
)
@schema_check.needs_crds
def test_names_at_their_limit_apply(gateway, pool, features):
    raw = {
        "maas:models": json.dumps([{"name": "org/m", "server": "simulator", **({"pool": pool} if pool else {})}]),
        "maas:gateway": json.dumps({"name": gateway} if gateway else {}),
        "maas:consumers": "[]",
        **features,
    }
    assert check(raw, careful=True) == "applied"
