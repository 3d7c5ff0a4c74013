"""A Prometheus that scrapes the stack's pods as prometheus-operator would configure it from the
PodMonitors, and answers the few PromQL shapes the triggers and dashboards use.

What each image exports is written down here from upstream source, independently of the
component code (components/metrics.py), so a renamed or invented metric fails the tests:
- vLLM v0.19.1 vllm/v1/metrics/loggers.py (Python client: counters get `_total`; labels
  model_name, engine) and llm-d-inference-sim v0.8.2 pkg/llm-d-inference-sim/metrics.go (the
  same names, label model_name; docs/metrics.md).
- llm-d router endpoint picker v0.10.0 pkg/epp/metrics/llm_d_router_metrics.go (the current
  `llm_d_epp_` names) and pkg/epp/metrics/metrics.go (their deprecated twins, still emitted
  beside them: docs/metrics.md "Deprecated series").
- agentgateway v1.4.1 crates/agentgateway/src/telemetry/metrics.rs (prefix agentgateway_), and
  its data plane pod: a container port named `metrics` on 15020 and the label
  gateway.networking.k8s.io/gateway-name (controller/test/deployer/testdata/*-out.yaml).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from gateway_sim import SIDECAR_IMAGE, _flag, _selector_matches, running_containers


def _histogram(name: str) -> dict[str, tuple[str, ...]]:
    return {f"{name}_{suffix}": () for suffix in ("bucket", "sum", "count")}


SERVER_METRICS: dict[str, tuple[str, ...]] = {
    "vllm:num_requests_waiting": ("model_name",),
    "vllm:num_requests_running": ("model_name",),
    "vllm:kv_cache_usage_perc": ("model_name",),
    "vllm:prompt_tokens_total": ("model_name",),
    "vllm:generation_tokens_total": ("model_name",),
    "vllm:request_success_total": ("model_name",),
    **{k: ("model_name",) for k in _histogram("vllm:time_to_first_token_seconds")},
    **{k: ("model_name",) for k in _histogram("vllm:inter_token_latency_seconds")},
    **{k: ("model_name",) for k in _histogram("vllm:e2e_request_latency_seconds")},
}
_FLOW = ("fairness_id", "priority", "inference_pool", "model_name", "target_model_name")
_REQUEST = ("model_name", "target_model_name", "fairness_id", "priority")
EPP_METRICS: dict[str, tuple[str, ...]] = {
    "llm_d_epp_average_kv_cache_utilization": ("name",),
    "llm_d_epp_average_queue_size": ("name",),
    "llm_d_epp_average_running_requests": ("name",),
    "llm_d_epp_ready_endpoints": ("name",),
    "llm_d_epp_request_total": _REQUEST,
    "llm_d_epp_request_running": _REQUEST,
    "llm_d_epp_flow_control_queue_size": _FLOW,
    "llm_d_epp_flow_control_queue_bytes": _FLOW,
    "llm_d_epp_flow_control_pool_saturation": ("inference_pool",),
    "llm_d_epp_flow_control_requests_total": ("outcome", "priority", "inference_pool"),
    # framework/plugins/scheduling/profilehandler/disagg/metrics.go
    "llm_d_epp_disagg_decision_total": ("plugin_name", "plugin_type", "model_name", "decision_type"),
}
DEPRECATED_EPP_METRICS: dict[str, tuple[str, ...]] = {
    "inference_pool_average_kv_cache_utilization": ("name",),
    "inference_pool_average_queue_size": ("name",),
    "inference_pool_ready_pods": ("name",),
    "inference_objective_request_total": ("model_name", "target_model_name", "priority"),
    "inference_extension_flow_control_queue_size": _FLOW,
    "inference_extension_flow_control_pool_saturation": ("inference_pool",),
    "llm_d_inference_scheduler_disagg_decision_total": ("model_name", "decision_type"),
}
# `consumer` and `team` are the stack's frontend.metrics attributes, on per-request and gen_ai
# metrics only (telemetry/log.rs).
GATEWAY_METRICS: dict[str, tuple[str, ...]] = {
    "agentgateway_requests_total": ("route", "consumer", "team"),
    **{k: ("gen_ai_token_type", "gen_ai_request_model", "route", "consumer", "team")
       for k in _histogram("agentgateway_gen_ai_client_token_usage")},
    # gen_ai_client_cost, registered with unit "usd": a counter, so `_usd_total` (metrics.rs).
    "agentgateway_gen_ai_client_cost_usd_total": ("gen_ai_request_model", "gen_ai_response_model", "route", "consumer", "team"),
}  # fmt: skip

EXPORTERS = {
    "vllm/vllm-openai": SERVER_METRICS,
    "ghcr.io/llm-d/llm-d-inference-sim": SERVER_METRICS,
    "ghcr.io/llm-d/llm-d-router-endpoint-picker": {**EPP_METRICS, **DEPRECATED_EPP_METRICS},
    "cr.agentgateway.dev/agentgateway": GATEWAY_METRICS,
}
DATA_PLANE_IMAGE = "cr.agentgateway.dev/agentgateway:v1.4.1"


def exported_by(image: str) -> dict[str, tuple[str, ...]]:
    return next(metrics for prefix, metrics in EXPORTERS.items() if image.startswith(prefix + ":"))


@dataclass
class SimPod:
    name: str
    namespace: str
    labels: dict[str, str]
    containers: list[dict[str, Any]]


def pods_of(objects: list[dict[str, Any]], replicas: Optional[dict[str, int]] = None) -> list[SimPod]:
    """The pods the Deployments run (autoscaled ones at `replicas[name]`, else 1)."""
    pods = []
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        name, namespace = deployment["metadata"]["name"], deployment["metadata"]["namespace"]
        count = deployment["spec"].get("replicas", (replicas or {}).get(name, 1))
        template = deployment["spec"]["template"]
        for index in range(count):
            pods.append(SimPod(f"{name}-{index}", namespace, template["metadata"]["labels"], running_containers(deployment)))
    return pods


def data_plane_pod(gateway: str, namespace: str, listener_port: int) -> SimPod:
    """agentgateway's data plane pod as its controller lays it out (see module docstring)."""
    return SimPod(
        f"{gateway}-0",
        namespace,
        {"gateway.networking.k8s.io/gateway-name": gateway, "app.kubernetes.io/name": gateway},
        [
            {
                "name": "agentgateway",
                "image": DATA_PLANE_IMAGE,
                "ports": [{"containerPort": 15020, "name": "metrics"}, {"containerPort": listener_port}],
            }
        ],
    )


def _meta_label(label: str) -> str:
    # Prometheus's Kubernetes discovery: every character outside [a-zA-Z0-9_] becomes `_`.
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() or c == "_" else "_" for c in label)


@dataclass
class Target:
    monitor: str
    pod: SimPod
    container: dict[str, Any]
    port: int
    labels: dict[str, str]

    @property
    def exports(self) -> dict[str, tuple[str, ...]]:
        """What a scrape of this container's port returns: its own metrics, or, for the P/D
        sidecar, which passes every path but the completions to the server behind it
        (pkg/sidecar/proxy/proxy.go at v0.10.0), that server's."""
        if self.container["image"].startswith(SIDECAR_IMAGE + ":"):
            behind = _flag(self.container.get("args", []), "--model-server-port")
            server = next(c for c in self.pod.containers if _flag(c.get("args", []), "--port") == behind)
            return exported_by(server["image"])
        return exported_by(self.container["image"])

    @property
    def native_labels(self) -> dict[str, str]:
        """Labels the process puts on its own series: the EPP names the pool from its
        `--pool-name` (`name` on pool gauges, `inference_pool` on flow control)."""
        args = self.container.get("args", [])
        if "--pool-name" in args:
            pool = args[args.index("--pool-name") + 1]
            return {"name": pool, "inference_pool": pool}
        return {}


def discover(objects: list[dict[str, Any]], pods: list[SimPod]) -> list[Target]:
    """Scrape targets: for each PodMonitor, each pod in its namespace its selector matches, at the
    container port its endpoint names, labelled as the relabelings say."""
    targets = []
    for monitor in (o for o in objects if o["kind"] == "PodMonitor"):
        namespace = monitor["metadata"]["namespace"]
        for pod in pods:
            if pod.namespace != namespace or not _selector_matches(monitor["spec"]["selector"], pod.labels):
                continue
            for endpoint in monitor["spec"]["podMetricsEndpoints"]:
                for container in pod.containers:
                    port = next((p for p in container.get("ports", []) if p.get("name") == endpoint["port"]), None)
                    if port is None:
                        continue
                    discovered = {_meta_label(k): v for k, v in pod.labels.items()}
                    labels = {"namespace": pod.namespace, "pod": pod.name, "container": container["name"]}
                    for rule in endpoint.get("relabelings", []):
                        assert rule.get("action", "replace") == "replace"
                        value = ";".join(discovered.get(source, "") for source in rule["sourceLabels"])
                        if value:
                            labels[rule["targetLabel"]] = value
                    targets.append(Target(monitor["metadata"]["name"], pod, container, port["containerPort"], labels))
    return targets


@dataclass
class Prometheus:
    """Series scraped from `targets`, with values the test sets per (metric, pod)."""

    targets: list[Target]
    values: dict[tuple[str, str], float] = field(default_factory=dict)

    def series(self, metric: str) -> list[tuple[dict[str, str], float]]:
        return [
            ({**target.native_labels, **target.labels, "__name__": metric}, self.values.get((metric, target.pod.name), 0.0))
            for target in self.targets
            if metric in target.exports
        ]

    def query(self, promql: str) -> Optional[float]:
        """The triggers' shapes: `sum(metric{label="v",...})`, None for an empty result, and terms
        `(sum(...) or vector(0))`, alone or joined by ` + ` (PromQL's `+` of one-element vectors)."""
        if promql.startswith("("):
            return sum(self._or_zero(term) for term in promql.split(" + "))
        return self._sum(promql)

    def _or_zero(self, term: str) -> float:
        match = re.fullmatch(r"\((?P<sum>sum\(.*\)) or vector\(0\)\)", term)
        assert match, f"unsupported term {term!r}"
        value = self._sum(match["sum"])
        return 0.0 if value is None else value

    def _sum(self, promql: str) -> Optional[float]:
        match = re.fullmatch(r"sum\((?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<matchers>[^}]*)\}\)", promql)
        assert match, f"unsupported query {promql!r}"
        wanted = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', match["matchers"]))
        # PromQL: a matcher for "" also matches a series without that label.
        hits = [value for labels, value in self.series(match["metric"])
                if all(labels.get(k, "") == v for k, v in wanted.items())]  # fmt: skip
        return sum(hits) if hits else None


def desired_replicas(scaled_object: dict[str, Any], prometheus: Prometheus) -> int:
    """What KEDA asks for: with every trigger at 0 (an empty result counts as 0, ignoreNullValues)
    a ScaledObject with minReplicaCount 0 deactivates to zero; otherwise its HPA gives each
    AverageValue trigger ceil(value / threshold) pods, the largest wins, within the bounds."""
    spec = scaled_object["spec"]
    assert all(t["metricType"] == "AverageValue" for t in spec["triggers"])
    values = [(prometheus.query(t["metadata"]["query"]) or 0.0, float(t["metadata"]["threshold"])) for t in spec["triggers"]]
    if spec["minReplicaCount"] == 0 and not any(value > 0 for value, _ in values):
        return 0
    wanted = max(math.ceil(value / threshold) for value, threshold in values)
    return min(max(wanted, spec["minReplicaCount"], 1), spec["maxReplicaCount"])


METRIC_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


def metrics_named(expr: str) -> list[str]:
    return METRIC_NAME.findall(expr)
