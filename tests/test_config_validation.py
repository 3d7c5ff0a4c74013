"""Bad stack config fails before anything is registered, naming key path, value and the rule."""

import json

import pulumi
import pytest

import harness
from llm_maas.models import ConfigError, derive_pool_name, load_config

MODELS = [{"name": "Qwen/Qwen3-0.6B"}, {"name": "TinyLlama/TinyLlama-1.1B-Chat-v1.0"}]
# Scraped, with a Prometheus for KEDA: what autoscaling needs besides the model's own bounds.
SCRAPED = {"monitoring": {"enabled": True}, "autoscaling": {"prometheusUrl": "http://prometheus.monitoring:9090"}}


def config_with(**values):
    base = {"maas:models": MODELS}
    base.update({f"maas:{k}": v for k, v in values.items()})
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in base.items()}


@pytest.mark.parametrize(
    "model_name, pool",
    [
        ("Qwen/Qwen3-0.6B", "qwen3-06b"),
        ("Qwen/Qwen3-32B", "qwen3-32b"),
        ("deepseek/DeepSeek-r1", "deepseek-r1"),
        ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", "tinyllama-11b-chat-v10"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-31-8b-instruct"),
        ("gpt_oss:20b", "gpt-oss-20b"),
    ],
)
def test_pool_names_derive_as_the_openshift_guide_does_by_hand(model_name, pool):
    assert derive_pool_name(model_name) == pool


def test_defaults_follow_the_platform():
    kube = load_config(config_with())
    assert (kube.gateway.port, kube.gateway_api_crds, kube.gateway.route) == (80, "install", None)
    shift = load_config(config_with(platform="openshift"))
    assert (shift.gateway.port, shift.gateway_api_crds, shift.gateway.route.enabled) == (8080, "platform", True)
    assert [m.image for m in kube.models] == ["vllm/vllm-openai:v0.19.1"] * 2


BAD = [
    # (id, config values, key path, shown value, words of the rule)
    ("typo-top-level", {"modles": MODELS}, "maas:modles", "Qwen", "allowed keys here"),
    ("typo-in-model", {"models": [{"name": "a", "replica": 2}]}, "maas:models[0].replica", "2", "replicas"),
    ("missing-models", {"models": None}, "maas:models", "null", "valid list"),
    ("empty-catalog", {"models": []}, "maas:models", "[]", "at least 1"),
    ("missing-name", {"models": [{"server": "simulator"}]}, "maas:models[0].name", "null", "required"),
    ("empty-name", {"models": [{"name": ""}]}, "maas:models[0].name", '""', "1-253 characters"),
    ("duplicate-model", {"models": [{"name": "a"}, {"name": "a", "pool": "b"}]}, "maas:models[1].name", '"a"', "already served by models[0].name"),
    (
        "adapter-named-like-a-model",
        {"models": [{"name": "m1", "server": "simulator"}, {"name": "m2", "server": "simulator", "adapters": ["m1"]}]},
        "maas:models[1].adapters[0].name", '"m1"', "already served by models[0].name",
    ),
    (
        "adapter-on-two-models",
        {"models": [{"name": "m1", "server": "simulator", "adapters": ["x"]}, {"name": "m2", "server": "simulator", "adapters": ["x"]}]},
        "maas:models[1].adapters[0].name", '"x"', "already served by models[0].adapters[0].name",
    ),
    ("pool-collision", {"models": [{"name": "a/Qwen3-0.6B"}, {"name": "b/qwen3-06b"}]}, "maas:models[1].name", "b/qwen3-06b", "already used by models[0]"),
    ("unsanitisable-name", {"models": [{"name": "123"}]}, "maas:models[0].name", '"123"', "set models[0].pool explicitly"),
    ("bad-explicit-pool", {"models": [{"name": "a", "pool": "Bad.Pool"}]}, "maas:models[0].pool", "Bad.Pool", "DNS-1035"),
    ("replicas-negative", {"models": [{"name": "a", "replicas": -1}]}, "maas:models[0].replicas", "-1", "greater than or equal to 0"),
    ("replicas-not-int", {"models": [{"name": "a", "replicas": "two"}]}, "maas:models[0].replicas", '"two"', "valid integer"),
    ("tensor-parallel-too-big", {"models": [{"name": "a", "tensorParallel": 16}]}, "maas:models[0].tensorParallel", "16", "less than or equal to 8"),
    ("unknown-server", {"models": [{"name": "a", "server": "tgi"}]}, "maas:models[0].server", '"tgi"', "'vllm' or 'simulator'"),
    ("unknown-platform", {"platform": "eks"}, "maas:platform", '"eks"', "'kubernetes' or 'openshift'"),
    ("port-out-of-range", {"gateway": {"port": 70000}}, "maas:gateway.port", "70000", "less than or equal to 65535"),
    ("adapters-not-a-list", {"models": [{"name": "a", "adapters": "x"}]}, "maas:models[0].adapters", '"x"', "valid list"),
    ("vllm-adapter-without-source", {"models": [{"name": "a", "adapters": ["x"]}]}, "maas:models[0].adapters[0]", '"x"', "source"),
    ("simulator-with-gpus", {"models": [{"name": "a", "server": "simulator", "tensorParallel": 2}]}, "maas:models[0].tensorParallel", "2", "allowed: 1"),
    ("openshift-installing-gateway-crds", {"platform": "openshift", "gatewayApiCrds": "install"}, "maas:gatewayApiCrds", '"install"', "allowed here: platform"),
    ("route-on-kubernetes", {"gateway": {"route": {"host": "a.b"}}}, "maas:gateway.route", "a.b", "only on OpenShift"),
    ("same-namespace", {"namespace": "agentgateway-system"}, "maas:namespace", "agentgateway-system", "must differ"),
    ("bad-quantity", {"models": [{"name": "a", "cacheSize": "lots"}]}, "maas:models[0].cacheSize", '"lots"', "Kubernetes quantity"),
    ("bad-image", {"versions": {"vllmImage": "Not An Image"}}, "maas:versions.vllmImage", "Not An Image", "image reference"),
    ("bad-version", {"versions": {"gatewayApi": "latest"}}, "maas:versions.gatewayApi", '"latest"', "release tag"),
    ("tolerations-not-a-list", {"models": [{"name": "a", "tolerations": {"key": "gpu"}}]}, "maas:models[0].tolerations", "gpu", "valid list"),
    ("bool-not-a-bool", {"networkPolicies": "maybe"}, "maas:networkPolicies", '"maybe"', "valid boolean"),
    (
        "shared-rwo-cache",
        {"models": [{"name": "a", "replicas": 2, "cacheStorageClass": "standard"}]},
        "maas:models[0].cacheAccessMode", '"ReadWriteOnce"', "allowed: ReadWriteMany",
    ),
    ("epp-replicas-zero", {"epp": {"replicas": 0}}, "maas:epp.replicas", "0", "greater than or equal to 1"),
    ("unknown-failure-mode", {"epp": {"failureMode": "Retry"}}, "maas:epp.failureMode", '"Retry"', "'FailOpen' or 'FailClose'"),
    ("duplicate-consumer", {"consumers": [{"name": "team"}, {"name": "team"}]}, "maas:consumers[1].name", '"team"', "must be unique"),
    ("malformed-consumer", {"consumers": [{"name": "Search_Team"}]}, "maas:consumers[0].name", "Search_Team", "DNS-1123 label"),
    ("consumer-without-name", {"consumers": [{"models": ["Qwen/Qwen3-0.6B"]}]}, "maas:consumers[0].name", "null", "required"),
    (
        "consumer-model-nothing-serves",
        {"consumers": [{"name": "team", "models": ["Qwen/Qwen3-0.6B", "gpt-4o"]}]},
        "maas:consumers[0].models[1]", '"gpt-4o"', "allowed: Qwen/Qwen3-0.6B, TinyLlama",
    ),
    ("consumer-no-models", {"consumers": [{"name": "team", "models": []}]}, "maas:consumers[0].models", "[]", "at least 1"),
    ("zero-token-budget", {"consumers": [{"name": "team", "tokensPerMinute": 0}]}, "maas:consumers[0].tokensPerMinute", "0", "greater than 0"),
    ("negative-request-budget", {"consumers": [{"name": "team", "requestsPerMinute": -5}]}, "maas:consumers[0].requestsPerMinute", "-5", "greater than 0"),
    ("key-version-zero", {"consumers": [{"name": "team", "keyVersion": 0}]}, "maas:consumers[0].keyVersion", "0", "greater than 0"),
    ("typo-in-consumer", {"consumers": [{"name": "team", "tokensPerMin": 5}]}, "maas:consumers[0].tokensPerMin", "5", "tokensPerMinute"),
    ("consumers-not-a-list", {"consumers": {"name": "team"}}, "maas:consumers", "team", "valid list"),
    (
        "rate-limit-install-and-service",
        {"rateLimit": {"service": {"name": "rl", "namespace": "limits"}}},
        "maas:rateLimit.service", "limits", "set install: false",
    ),
    (
        "budgets-without-a-service",
        {"rateLimit": {"install": False}, "consumers": [{"name": "team", "tokensPerMinute": 10}]},
        "maas:rateLimit.service", "null", "name the existing service",
    ),
    ("unknown-rate-limit-failure-mode", {"rateLimit": {"failureMode": "Retry"}}, "maas:rateLimit.failureMode", '"Retry"', "'FailOpen' or 'FailClosed'"),
    ("typo-in-rate-limit", {"rateLimit": {"instal": False}}, "maas:rateLimit.instal", "false", "install"),
    # Monitoring, autoscaling and the GPU budget.
    (
        "autoscaling-min-above-max",
        {"models": [{"name": "Qwen/Qwen3-0.6B", "autoscaling": {"minReplicas": 5, "maxReplicas": 2}}], **SCRAPED},
        "maas:models[0].autoscaling.minReplicas", "5", "exceeds maxReplicas (2)",
    ),
    (
        "replicas-contradict-autoscaling",
        {"models": [{"name": "Qwen/Qwen3-0.6B", "replicas": 6, "autoscaling": {"maxReplicas": 4}}], **SCRAPED},
        "maas:models[0].replicas", "6", "contradicts autoscaling (1..4)",
    ),
    (
        "queue-depth-zero",
        {"models": [{"name": "Qwen/Qwen3-0.6B", "autoscaling": {"maxReplicas": 4, "queueDepth": 0}}], **SCRAPED},
        "maas:models[0].autoscaling.queueDepth", "0", "greater than 0",
    ),
    (
        "autoscaling-without-a-metrics-source",
        {"models": [{"name": "Qwen/Qwen3-0.6B", "autoscaling": {"maxReplicas": 4}}], "monitoring": {"enabled": True}},
        "maas:autoscaling.prometheusUrl", "null", "KEDA has no metrics source",
    ),
    (
        "autoscaling-without-monitoring",
        {"models": [{"name": "Qwen/Qwen3-0.6B", "autoscaling": {"maxReplicas": 4}}],
         "autoscaling": {"prometheusUrl": "http://prometheus.monitoring:9090"}},
        "maas:monitoring.enabled", "false", "set enabled: true",
    ),
    (
        "gaie-endpoint-picker",
        {"versions": {"eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0"}},
        "maas:versions.eppImage", "gateway-api-inference-extension/epp:v1.5.0", "the llm-d router's endpoint picker",
    ),
    (
        "endpoint-picker-pinned-by-digest-only",
        {"versions": {"eppImage": "ghcr.io/llm-d/llm-d-router-endpoint-picker@sha256:" + "0" * 64}},
        "maas:versions.eppImage", "@sha256:", "pinned by tag",
    ),
    (
        "endpoint-picker-from-another-release",
        {"versions": {"eppImage": "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.11.0"}},
        "maas:versions.eppImage", "v0.11.0", "another release than versions.llmdRouter v0.10.0",
    ),
    (
        "router-older-than-the-config-it-reads",
        {"versions": {"llmdRouter": "v0.9.0", "eppImage": "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.9.0"}},
        "maas:versions.llmdRouter", '"v0.9.0"', "allowed: v0.10.0 or later",
    ),
    (
        "unknown-tier",
        {"tiers": [{"name": "gold", "priority": 10}], "consumers": [{"name": "team", "tier": "silver"}]},
        "maas:consumers[0].tier", '"silver"', "allowed: gold",
    ),
    (
        "tier-without-any-tiers",
        {"consumers": [{"name": "team", "tier": "gold"}]},
        "maas:consumers[0].tier", '"gold"', "maas:tiers is empty",
    ),
    (
        "duplicate-tier",
        {"tiers": [{"name": "gold", "priority": 10}, {"name": "gold", "priority": 1}]},
        "maas:tiers[1].name", '"gold"', "already used by tiers[0]",
    ),
    (
        "tier-priority-too-high",
        {"tiers": [{"name": "gold", "priority": 10000}]},
        "maas:tiers[0].priority", "10000", "between -1000 and 1000",
    ),
    (
        "tier-priority-too-low",
        {"tiers": [{"name": "scraps", "priority": -1001}]},
        "maas:tiers[0].priority", "-1001", "between -1000 and 1000",
    ),
    (
        "tier-name-not-a-label",
        {"tiers": [{"name": "Gold Tier", "priority": 1}]},
        "maas:tiers[0].name", '"Gold Tier"', "DNS-1123 label",
    ),
    (
        "tier-without-priority",
        {"tiers": [{"name": "gold"}]},
        "maas:tiers[0].priority", "null", "required",
    ),
    (
        "gpu-budget-overflow",
        {"models": [{"name": "Qwen/Qwen3-0.6B", "tensorParallel": 2, "autoscaling": {"maxReplicas": 4}},
                    {"name": "TinyLlama/TinyLlama-1.1B-Chat-v1.0"}], **SCRAPED, "gpuBudget": 8},
        "maas:gpuBudget", "8", "may ask for 9 GPUs at its maximum replica counts (Qwen/Qwen3-0.6B 8, TinyLlama/TinyLlama-1.1B-Chat-v1.0 1)",
    ),
    ("gpu-budget-zero", {"gpuBudget": 0}, "maas:gpuBudget", "0", "greater than 0"),
    ("monitoring-install-without-enabled", {"monitoring": {"install": True}}, "maas:monitoring.install", "true", "set enabled: true"),
    (
        "monitoring-install-on-openshift",
        {"platform": "openshift", "monitoring": {"enabled": True, "install": True}},
        "maas:monitoring.install", "true", "user-workload monitoring",
    ),
    ("bad-scrape-interval", {"monitoring": {"scrapeInterval": "1m"}}, "maas:monitoring.scrapeInterval", '"1m"', "pattern"),
    ("typo-in-autoscaling", {"models": [{"name": "Qwen/Qwen3-0.6B", "autoscaling": {"max": 4}}]},
     "maas:models[0].autoscaling.max", "4", "maxReplicas"),
    # Models bigger than one node.
    ("nodes-zero", {"models": [{"name": "a", "nodes": 0}]}, "maas:models[0].nodes", "0", "greater than or equal to 1"),
    ("nodes-too-many", {"models": [{"name": "a", "nodes": 65}]}, "maas:models[0].nodes", "65", "less than or equal to 64"),
    ("multi-node-simulator", {"models": [{"name": "a", "server": "simulator", "nodes": 2}]}, "maas:models[0].nodes", "2", "a simulator runs in one pod"),
    ("gpus-per-replica-over-max", {"models": [{"name": "a", "tensorParallel": 8, "nodes": 17}]}, "maas:models[0].nodes", "17", "136 GPUs per replica; at most 128"),
    (
        "multi-node-adapter-path",
        {"models": [{"name": "a", "nodes": 2, "adapters": [{"name": "x", "source": "/adapters/x"}]}]},
        "maas:models[0].adapters[0].source", "/adapters/x", "use a Hugging Face repo id",
    ),
    (
        "multi-node-rwo-cache",
        {"models": [{"name": "a", "nodes": 2, "cacheStorageClass": "standard"}]},
        "maas:models[0].cacheAccessMode", '"ReadWriteOnce"', "up to 2 pods (replicas x nodes)",
    ),
    (
        "lws-install-on-openshift",
        {"platform": "openshift", "leaderWorkerSet": {"install": True}},
        "maas:leaderWorkerSet.install", "true", "Red Hat build of the LeaderWorkerSet Operator",
    ),
    ("timeout-not-a-duration", {"models": [{"name": "a", "requestTimeout": "5 minutes"}]},
     "maas:models[0].requestTimeout", '"5 minutes"', "a duration such as 300s"),
    ("timeout-zero", {"models": [{"name": "a", "requestTimeout": "0s"}]}, "maas:models[0].requestTimeout", '"0s"', "1s to 24h"),
    ("timeout-over-a-day", {"models": [{"name": "a", "requestTimeout": "25h"}]}, "maas:models[0].requestTimeout", '"25h"', "1s to 24h"),
    # Prefill/decode disaggregation.
    (
        "prefill-on-a-multi-node-model",
        {"models": [{"name": "a", "tensorParallel": 8, "nodes": 2, "prefill": {"tensorParallel": 4}}]},
        "maas:models[0].nodes", "2", "does not support across pipeline stages",
    ),
    (
        "prefill-simulator-with-gpus",
        {"models": [{"name": "a", "server": "simulator", "prefill": {"tensorParallel": 2}}]},
        "maas:models[0].prefill.tensorParallel", "2", "simulators use no GPUs",
    ),
    (
        "disaggregated-decode-scales-to-zero",
        {"models": [{"name": "a", "autoscaling": {"minReplicas": 0, "maxReplicas": 2}, "prefill": {}}], **SCRAPED},
        "maas:models[0].autoscaling.minReplicas", "0", "prefill pods keep it non-empty",
    ),
    (
        "prefill-scales-to-zero",
        {"models": [{"name": "a", "prefill": {"autoscaling": {"minReplicas": 0, "maxReplicas": 2}}}], **SCRAPED},
        "maas:models[0].prefill.autoscaling.minReplicas", "0", "no prefill queue ever forms",
    ),
    ("prefill-without-pods", {"models": [{"name": "a", "prefill": {"replicas": 0}}]},
     "maas:models[0].prefill.replicas", "0", "greater than or equal to 1"),
    (
        "prefill-replicas-outside-its-autoscaling",
        {"models": [{"name": "a", "prefill": {"replicas": 5, "autoscaling": {"maxReplicas": 3}}}], **SCRAPED},
        "maas:models[0].prefill.replicas", "5", "contradicts autoscaling (1..3)",
    ),
    (
        "prefill-autoscaling-without-monitoring",
        {"models": [{"name": "a", "prefill": {"autoscaling": {"maxReplicas": 3}}}],
         "autoscaling": {"prometheusUrl": "http://prometheus.monitoring:9090"}},
        "maas:monitoring.enabled", "false", "models[0].prefill autoscale",
    ),
    ("prefill-typo", {"models": [{"name": "a", "prefill": {"replica": 2}}]}, "maas:models[0].prefill.replica", "2", "replicas"),
    ("decider-threshold-zero", {"models": [{"name": "a", "prefill": {"nonCachedTokens": 0}}]},
     "maas:models[0].prefill.nonCachedTokens", "0", "greater than or equal to 1"),
    (
        "sidecar-from-another-release",
        {"versions": {"disaggSidecarImage": "ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.9.1"}},
        "maas:versions.disaggSidecarImage", "v0.9.1", "another release than versions.llmdRouter v0.10.0",
    ),
    (
        "shared-rwo-cache-on-prefill-pods",
        {"models": [{"name": "a", "cacheStorageClass": "standard", "prefill": {"replicas": 2}}]},
        "maas:models[0].cacheAccessMode", '"ReadWriteOnce"', "up to 2 pods",
    ),
    # GitOps render mode and where the HF token comes from.
    ("render-to-nowhere", {"renderYamlTo": "  "}, "maas:renderYamlTo", '"  "', "a directory path"),
    ("bad-token-secret-name", {"hfTokenSecret": "HF Token"}, "maas:hfTokenSecret", "HF Token", "DNS-1123 subdomain"),
    # Accepted means applies (issue 19): what the API server, the controllers or the servers refuse.
    ("gateway-name-digit-first", {"gateway": {"name": "1gw"}}, "maas:gateway.name", '"1gw"', "DNS-1035"),
    ("gateway-name-too-long", {"gateway": {"name": "g" * 57}}, "maas:gateway.name", "g" * 57, "at most 56 characters"),
    ("gateway-name-too-long-for-budgets", {"gateway": {"name": "g" * 48}, "consumers": [{"name": "a", "requestsPerMinute": 5}]},
     "maas:gateway.name", "g" * 48, "the budget service's Redis Service, would be 64 characters"),
    ("gateway-name-too-long-for-monitoring", {"gateway": {"name": "g" * 53}, "monitoring": {"enabled": True, "install": True}},
     "maas:gateway.name", "g" * 53, "may have at most 52 here"),
    (
        "multi-node-pool-too-long",
        {"models": [{"name": "a", "pool": "p" * 44, "nodes": 2, "replicas": 10}], "leaderWorkerSet": {"install": True}},
        "maas:models[0].pool", "p" * 44, "at most 43 characters at up to 10 replicas",
    ),
    (
        "route-split-takes-a-pool-name",
        {"models": [{"name": "a", "server": "simulator", "pool": "big", "adapters": [f"a{i}" for i in range(128)]},
                    {"name": "b", "server": "simulator", "pool": "big-2"}]},
        "maas:models[1].pool", '"big-2"', "second or later HTTPRoute (129 names",
    ),
    (
        "add-on-in-the-gateway-namespace",
        {"monitoring": {"enabled": True, "install": True, "namespace": "agentgateway-system"}},
        "maas:monitoring.namespace", '"agentgateway-system"', "is also gateway.namespace",
    ),
    (
        "two-add-ons-one-namespace",
        {"leaderWorkerSet": {"install": True, "namespace": "llm-d"}},
        "maas:leaderWorkerSet.namespace", '"llm-d"', "is also namespace",
    ),
    ("toleration-without-key", {"models": [{"name": "a", "tolerations": [{"value": "x"}]}]},
     "maas:models[0].tolerations[0]", '"value": "x"', "needs operator: Exists"),
    ("toleration-seconds-not-noexecute", {"models": [{"name": "a", "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 30}]}]},
     "maas:models[0].tolerations[0]", "30", "only to effect: NoExecute"),
    ("toleration-exists-with-value", {"models": [{"name": "a", "tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}]},
     "maas:models[0].tolerations[0]", '"v"', "remove value"),
    ("toleration-key-not-qualified", {"models": [{"name": "a", "tolerations": [{"key": "gpu type", "operator": "Exists"}]}]},
     "maas:models[0].tolerations[0].key", '"gpu type"', "qualified name"),
    ("node-selector-key", {"models": [{"name": "a", "nodeSelector": {"gpu type": "a100"}}]},
     'maas:models[0].nodeSelector["gpu type"] (the key)', '"gpu type"', "qualified name"),
    ("node-selector-value", {"models": [{"name": "a", "nodeSelector": {"nvidia.com/gpu.product": "A100 80GB"}}]},
     'maas:models[0].nodeSelector["nvidia.com/gpu.product"]', '"A100 80GB"', "label value"),
    ("pod-monitor-label", {"monitoring": {"enabled": True, "podMonitorLabels": {"release": "kube prometheus"}}},
     "maas:monitoring.podMonitorLabels.release", '"kube prometheus"', "label value"),
    ("scraper-pod-label-key", {"monitoring": {"enabled": True, "scraper": {"podLabels": {"/name": "prometheus"}}}},
     'maas:monitoring.scraper.podLabels["/name"] (the key)', '"/name"', "qualified name"),
    ("memory-limit-below-request", {"models": [{"name": "a", "resources": {"cpu": "1", "memory": "8Gi", "memoryLimit": "4Gi"}}]},
     "maas:models[0].resources", '"memoryLimit": "4Gi"', "at least the request"),
    ("epp-memory-limit-below-request", {"epp": {"resources": {"cpu": "1", "memory": "8Gi", "memoryLimit": "4Gi"}}},
     "maas:epp.resources", '"memoryLimit": "4Gi"', "at least the request"),
    ("prefill-memory-limit-below-request",
     {"models": [{"name": "a", "prefill": {"resources": {"cpu": "1", "memory": "8Gi", "memoryLimit": "1Gi"}}}]},
     "maas:models[0].prefill.resources", '"memoryLimit": "1Gi"', "at least the request"),
    ("gpu-resource-without-domain", {"models": [{"name": "a", "gpuResource": "gpu"}]}, "maas:models[0].gpuResource", '"gpu"', "vendor's domain"),
    ("gpu-resource-kubernetes-io", {"models": [{"name": "a", "gpuResource": "kubernetes.io/gpu"}]},
     "maas:models[0].gpuResource", '"kubernetes.io/gpu"', "vendor's domain"),
    ("storage-class-not-subdomain", {"models": [{"name": "a", "cacheStorageClass": "Fast_SSD"}]},
     "maas:models[0].cacheStorageClass", '"Fast_SSD"', "DNS-1123 subdomain"),
    ("cache-size-zero", {"models": [{"name": "a", "cacheSize": "0Gi"}]}, "maas:models[0].cacheSize", '"0Gi"', "more than zero"),
    ("shm-size-zero", {"models": [{"name": "a", "shmSize": "0"}]}, "maas:models[0].shmSize", '"0"', "more than zero"),
    ("source-reads-as-a-flag", {"models": [{"name": "a", "source": "--trust-remote-code"}]},
     "maas:models[0].source", "--trust-remote-code", "read as a flag"),
    ("extra-arg-served-name", {"models": [{"name": "a", "extraArgs": ["--served-model-name", "b"]}]},
     "maas:models[0].extraArgs[0]", "--served-model-name", "from name"),
    ("extra-arg-port-equals", {"models": [{"name": "a", "extraArgs": ["--port=9000"]}]},
     "maas:models[0].extraArgs[0]", "--port=9000", "the pool (its target port)"),
    ("extra-arg-underscore", {"models": [{"name": "a", "extraArgs": ["--tensor_parallel_size", "4"]}]},
     "maas:models[0].extraArgs[0]", "--tensor_parallel_size", "from tensorParallel"),
    ("extra-arg-short-form", {"models": [{"name": "a", "extraArgs": ["-tp", "4"]}]}, "maas:models[0].extraArgs[0]", "-tp", "from tensorParallel"),
    ("extra-arg-abbreviated", {"models": [{"name": "a", "extraArgs": ["--max-model", "8192"]}]},
     "maas:models[0].extraArgs[0]", "--max-model", "from maxModelLen"),
    ("extra-arg-lora-modules", {"models": [{"name": "a", "extraArgs": ["--lora-modules", "x=y"]}]},
     "maas:models[0].extraArgs[0]", "--lora-modules", "from adapters"),
    ("extra-arg-json-key", {"models": [{"name": "a", "prefill": {"extraArgs": ["--kv-transfer-config.kv_role", "kv_consumer"]}}]},
     "maas:models[0].prefill.extraArgs[0]", "--kv-transfer-config.kv_role", "from prefill"),
    ("simulator-extra-model", {"models": [{"name": "a", "server": "simulator", "extraArgs": ["--model", "b"]}]},
     "maas:models[0].extraArgs[0]", "--model", "simulates <pool>-simulator"),
    ("external-budget-service-name", {"rateLimit": {"install": False, "service": {"name": "9-ratelimit", "namespace": "infra"}}},
     "maas:rateLimit.service.name", '"9-ratelimit"', "a Service name"),
    # Spend (issue 20).
    ("unknown-team", {"teams": [{"name": "search", "spendPerDay": 5}], "consumers": [{"name": "a", "team": "serch"}]},
     "maas:consumers[0].team", '"serch"', "no team of that name in maas:teams; allowed: search"),
    ("duplicate-team", {"teams": [{"name": "t", "spendPerDay": 5}, {"name": "t", "spendPerDay": 6}]},
     "maas:teams[1].name", '"t"', "team names must be unique"),
    ("negative-price", {"models": [{"name": "a", "price": {"inputPerMillion": -0.1, "outputPerMillion": 1}}]},
     "maas:models[0].price.inputPerMillion", "-0.1", "greater than or equal to 0"),
    ("price-too-precise", {"models": [{"name": "a", "price": {"inputPerMillion": 0.1, "outputPerMillion": 0.0000001}}]},
     "maas:models[0].price.outputPerMillion", "1e-07", "no more than 6 decimal places"),
    ("price-without-output", {"models": [{"name": "a", "price": {"inputPerMillion": 1}}]},
     "maas:models[0].price.outputPerMillion", "null", "required"),
    ("team-budget-zero", {"teams": [{"name": "t", "spendPerDay": 0}]}, "maas:teams[0].spendPerDay", "0", "greater than 0"),
    ("team-budget-negative", {"teams": [{"name": "t", "spendPerDay": -5}]}, "maas:teams[0].spendPerDay", "-5", "greater than 0"),
    ("team-budget-over-the-service", {"teams": [{"name": "t", "spendPerDay": 500000}]},
     "maas:teams[0].spendPerDay", "500000", "less than or equal to 429496.7295"),
    ("currency-not-a-code", {"currency": "dollars"}, "maas:currency", '"dollars"', "pattern"),
    ("multi-node-flag-in-extra-args", {"models": [{"name": "a", "extraArgs": ["--pipeline-parallel-size=2"]}]},
     "maas:models[0].extraArgs[0]", "--pipeline-parallel-size=2", "from nodes"),
]


@pytest.mark.parametrize("values, path, shown, rule", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_names_path_value_and_rule(values, path, shown, rule):
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(**values))
    lines = [line for line in str(caught.value).splitlines() if line.strip().startswith("- ")]
    matching = [line for line in lines if f"- {path} = " in line]
    assert matching, f"no violation at {path}: {caught.value}"
    assert shown in matching[0] and rule in matching[0], matching[0]


def test_at_least_25_kinds_of_bad_config_are_covered():
    assert len(BAD) >= 25


@pytest.mark.parametrize("values", [b[1] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_registers_nothing(values):
    with pytest.raises(pulumi.RunError):
        harness.run_program(config_with(**values))
    assert harness.record.last.registrations == []


def test_hf_token_must_be_a_secret_and_is_never_echoed():
    token = "hf_plaintext_should_not_appear"
    with pytest.raises(ConfigError) as caught:
        load_config({**config_with(), "maas:hfToken": token})
    assert "maas:hfToken" in str(caught.value) and "--secret" in str(caught.value)
    assert token not in str(caught.value)


@pytest.mark.parametrize(
    "values, path, rule",
    [
        ({"renderYamlTo": "rendered/dev"}, "maas:hfToken", "plaintext under rendered/dev; remove it and set hfTokenSecret"),
        ({"hfTokenSecret": "hub-credentials"}, "maas:hfTokenSecret", "not both"),
    ],
    ids=["token-in-rendered-files", "two-token-sources"],
)
def test_a_token_that_would_leak_or_clash_is_refused(values, path, rule):
    token = "hf_should_never_be_rendered"
    config = {**config_with(**values), "maas:hfToken": token}
    with pytest.raises(ConfigError) as caught:
        load_config(config, secret_keys=["maas:hfToken"])
    assert f"- {path} = " in str(caught.value) and rule in str(caught.value)
    assert token not in str(caught.value)
    with pytest.raises(pulumi.RunError):
        harness.run_program(config, secret_keys=["maas:hfToken"])
    assert harness.record.last.registrations == []


def test_other_namespaces_config_is_ignored():
    assert load_config({**config_with(), "kubernetes:context": "kind-maas"}).models


def test_every_problem_is_reported_in_one_pass():
    """A typo in one model, a consumer naming a model no entry serves, and a duplicate tier: all
    three at once, each at the index it has in the file. A consumer naming the mistyped model's
    own name is not told that model does not exist."""
    values = config_with(
        models=[{"name": "a", "replica": 2}, {"name": "b", "server": "simulator"}],
        consumers=[{"name": "team", "models": ["a"]}, {"name": "other", "models": ["zzz"], "tier": "gold"}],
        tiers=[{"name": "gold", "priority": 1}, {"name": "gold", "priority": 2}],
    )
    with pytest.raises(ConfigError) as caught:
        load_config(values)
    paths = sorted(v.loc for v in caught.value.violations)
    assert paths == [("consumers", 1, "models", 0), ("models", 0, "replica"), ("tiers", 1, "name")], caught.value
    assert str(caught.value).startswith("invalid stack config (3 problems):")


def test_cross_field_problems_keep_their_entrys_index_when_an_earlier_entry_failed():
    values = config_with(models=[{"name": "a", "replica": 2}, {"name": "b", "server": "simulator", "tensorParallel": 2}])
    with pytest.raises(ConfigError) as caught:
        load_config(values)
    assert {v.loc for v in caught.value.violations} == {("models", 0, "replica"), ("models", 1, "tensorParallel")}


def test_one_problem_is_one_problem():
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(models=[{"name": "a", "replica": 2}]))
    assert str(caught.value).splitlines()[0] == "invalid stack config (1 problem):"
