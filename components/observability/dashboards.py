"""Grafana dashboards (JSON model) for the models and for the consumers, built from `metrics`.

They take their Prometheus from a `datasource` variable, so they work in any Grafana that loads
ConfigMaps labelled grafana_dashboard: "1" (kube-prometheus-stack's sidecar does).
"""

from __future__ import annotations

import json
from typing import Sequence

from ..kube import PART_OF
from . import metrics

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


def _panel(title: str, unit: str, targets: Sequence[tuple[str, str]], position: tuple[int, int, int, int]) -> dict:
    x, y, width, height = position
    return {
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": width, "h": height},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + index), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for index, (expr, legend) in enumerate(targets)
        ],
    }


def _variables(*extra: dict) -> dict:
    datasource = {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"}
    return {"list": [datasource, *extra]}


def _label_variable(name: str, label: str, metric_series: str) -> dict:
    return {
        "name": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": f"label_values({metric_series}, {label})", "refId": name},
        "includeAll": True,
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
    }


def _dashboard(uid: str, title: str, panels: list[dict], variables: dict) -> str:
    return json.dumps(
        {
            "uid": uid,
            "title": title,
            "tags": [PART_OF],
            "editable": False,
            "schemaVersion": 39,
            "time": {"from": "now-1h", "to": "now"},
            "refresh": "30s",
            "templating": variables,
            "panels": panels,
        },
        indent=1,
    )


def models_dashboard(namespace: str) -> str:
    """Per pool: requests, queue depth, KV-cache use, tokens/s, time to first token (the last three
    per side of a disaggregated model), replicas, the requests its endpoint picker holds by
    priority and by consumer, and its prefill/decode decisions."""
    pools = "~$pool"

    def server(metric: str) -> str:
        return metrics.series(metric, namespace=namespace, **{metrics.POOL: pools})

    by_pool = f"sum by ({metrics.POOL})"
    # Queue, KV cache and TTFT per side of a disaggregated model (`role` is empty for the others).
    by_role = f"{metrics.POOL}, {metrics.ROLE}"
    per_role = "{{pool}} {{role}}"
    ready = metrics.series(metrics.EPP_READY_ENDPOINTS, namespace=namespace, name=pools)
    held = metrics.series(metrics.EPP_HELD_REQUESTS, namespace=namespace, inference_pool=pools)
    ttft = f"sum by (le, {by_role}) (rate({server(metrics.SERVER_TTFT + '_bucket')}[{RATE}]))"
    decisions = metrics.series(metrics.EPP_DISAGG_DECISIONS, namespace=namespace, **{metrics.POOL: pools})
    panels = [
        _panel("Requests completed /s", "reqps",
               [(f"{by_pool} (rate({server(metrics.SERVER_REQUESTS)}[{RATE}]))", "{{pool}}")], (0, 0, 12, 8)),
        _panel("Queue depth", "short",
               [(f"sum by ({by_role}) ({server(metrics.SERVER_WAITING)})", f"{per_role} waiting"),
                (f"sum by ({by_role}) ({server(metrics.SERVER_RUNNING)})", f"{per_role} running"),
                (f"sum by (inference_pool) ({held})", "{{inference_pool}} held by the EPP")], (12, 0, 12, 8)),
        _panel("KV-cache use", "percentunit",
               [(f"avg by ({by_role}) ({server(metrics.SERVER_KV_CACHE)})", per_role)], (0, 8, 12, 8)),
        _panel("Tokens /s", "short",
               [(f"{by_pool} (rate({server(metrics.SERVER_GENERATION_TOKENS)}[{RATE}]))", "{{pool}} generated"),
                (f"{by_pool} (rate({server(metrics.SERVER_PROMPT_TOKENS)}[{RATE}]))", "{{pool}} prompt")],
               (12, 8, 12, 8)),
        _panel("Time to first token", "s",
               [(f"histogram_quantile(0.5, {ttft})", f"{per_role} p50"),
                (f"histogram_quantile(0.95, {ttft})", f"{per_role} p95")], (0, 16, 12, 8)),
        _panel("Ready replicas", "short", [(f"sum by (name) ({ready})", "{{name}}")], (12, 16, 12, 8)),
        # Which tiers wait when a pool is saturated: the picker serves the highest priority first.
        _panel("Held by the endpoint picker, by priority", "short",
               [(f"sum by (inference_pool, priority) ({held})", "{{inference_pool}} priority {{priority}}")],
               (0, 24, 12, 8)),
        _panel("Held by the endpoint picker, by consumer", "short",
               [(f"sum by (inference_pool, fairness_id) ({held})", "{{inference_pool}} {{fairness_id}}")],
               (12, 24, 12, 8)),
        # How often a disaggregated pool's picker sends the prompt to a prefill pod.
        _panel("Prefill/decode decisions /s", "reqps",
               [(f"sum by ({metrics.POOL}, decision_type) (rate({decisions}[{RATE}]))", "{{pool}} {{decision_type}}")],
               (0, 32, 24, 8)),
    ]
    pool_variable = _label_variable(
        "pool", metrics.POOL, metrics.series(metrics.SERVER_WAITING, namespace=namespace)
    )
    return _dashboard("maas-models", "MaaS models", panels, _variables(pool_variable))


def spend_dashboard(gateway_namespace: str, gateway: str) -> str:
    """Money, from the gateway's own cost counter: what each priced call was charged (the catalog's
    rates on the reported usage, cached tokens at their rate), so it matches the team budgets to the
    cent, where tokens x prices here would repeat the catalog and miss the cached-token rate."""
    teams = "~$team"
    cost = metrics.series(metrics.GATEWAY_COST, namespace=gateway_namespace, **{metrics.GATEWAY: gateway, metrics.TEAM: teams})
    panels = [
        _panel("Spend per hour by team", "currency", [(f"sum by (team) (rate({cost}[{RATE}])) * 3600", "{{team}}")],
               (0, 0, 12, 8)),
        _panel("Spend per hour by consumer and model", "currency",
               [(f"sum by (consumer, gen_ai_request_model) (rate({cost}[{RATE}])) * 3600",
                 "{{consumer}} {{gen_ai_request_model}}")], (12, 0, 12, 8)),
        _panel("Spend in the last 24 h by team", "currency", [(f"sum by (team) (increase({cost}[24h]))", "{{team}}")],
               (0, 8, 12, 8)),
        _panel("Spend in the last 24 h by model", "currency",
               [(f"sum by (gen_ai_request_model) (increase({cost}[24h]))", "{{gen_ai_request_model}}")], (12, 8, 12, 8)),
    ]  # fmt: skip
    team_variable = _label_variable(
        "team", metrics.TEAM, metrics.series(metrics.GATEWAY_COST, namespace=gateway_namespace, **{metrics.GATEWAY: gateway})
    )
    return _dashboard("maas-spend", "MaaS spend", panels, _variables(team_variable))


def consumers_dashboard(gateway_namespace: str, gateway: str) -> str:
    """Per consumer (the gateway's `consumer` metric label): tokens and requests per model."""
    consumers = "~$consumer"

    def gateway_series(metric: str, **matchers: str) -> str:
        return metrics.series(
            metric, namespace=gateway_namespace, **{metrics.GATEWAY: gateway, metrics.CONSUMER: consumers}, **matchers
        )

    tokens = gateway_series(metrics.GATEWAY_TOKENS + "_sum")
    per_consumer_model = "sum by (consumer, gen_ai_request_model)"
    panels = [
        _panel("Tokens /s by consumer and model", "short",
               [(f"{per_consumer_model} (rate({tokens}[{RATE}]))", "{{consumer}} {{gen_ai_request_model}}")],
               (0, 0, 24, 9)),
        _panel("Input vs output tokens /s", "short",
               [(f"sum by (consumer, gen_ai_token_type) (rate({tokens}[{RATE}]))",
                 "{{consumer}} {{gen_ai_token_type}}")], (0, 9, 12, 8)),
        _panel("Requests /s by consumer", "reqps",
               [(f"sum by (consumer) (rate({gateway_series(metrics.GATEWAY_REQUESTS)}[{RATE}]))", "{{consumer}}")],
               (12, 9, 12, 8)),
        _panel("Tokens in the last 24 h", "short",
               [(f"{per_consumer_model} (increase({tokens}[24h]))", "{{consumer}} {{gen_ai_request_model}}")],
               (0, 17, 24, 8)),
    ]
    consumer_variable = _label_variable(
        "consumer", metrics.CONSUMER,
        metrics.series(metrics.GATEWAY_REQUESTS, namespace=gateway_namespace, **{metrics.GATEWAY: gateway}),
    )
    return _dashboard("maas-consumers", "MaaS consumers", panels, _variables(consumer_variable))
