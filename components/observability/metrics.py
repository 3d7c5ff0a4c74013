"""The metrics dashboards and autoscaling triggers read, as the pinned images name them, and the
target labels the PodMonitors add. Nothing else in the stack spells a metric name.

Sources:
- vLLM v0.19.1 `vllm/v1/metrics/loggers.py` (labels model_name, engine; the Python client adds
  `_total` to counters) and llm-d-inference-sim v0.8.2 `pkg/llm-d-inference-sim/metrics.go`
  (label model_name), which exports the same names. `vllm:gpu_cache_usage_perc` is gone since
  vLLM PR #29330; `vllm:kv_cache_usage_perc` replaces it.
- llm-d router endpoint picker v0.10.0 `pkg/epp/metrics/llm_d_router_metrics.go` and
  `docs/metrics.md`: the current `llm_d_epp_` names (their `inference_pool_*` and
  `inference_extension_*` twins are deprecated). Pool gauges are labelled `name` (the pool);
  flow-control gauges `inference_pool`, `priority` and `fairness_id` (the consumer, as the
  gateway sets it).
- agentgateway v1.4.1 `crates/agentgateway/src/telemetry/metrics.rs`: registry prefix
  `agentgateway_`; gen_ai histograms labelled gen_ai_token_type, gen_ai_request_model, the route
  and the custom attributes of `frontend.metrics` (our `consumer` and `team`); the cost counter of
  priced calls likewise.
"""

from __future__ import annotations

from typing import Optional

SERVER_WAITING = "vllm:num_requests_waiting"
SERVER_RUNNING = "vllm:num_requests_running"
SERVER_KV_CACHE = "vllm:kv_cache_usage_perc"
SERVER_TTFT = "vllm:time_to_first_token_seconds"
SERVER_PROMPT_TOKENS = "vllm:prompt_tokens_total"
SERVER_GENERATION_TOKENS = "vllm:generation_tokens_total"
SERVER_REQUESTS = "vllm:request_success_total"

EPP_READY_ENDPOINTS = "llm_d_epp_ready_endpoints"
EPP_HELD_REQUESTS = "llm_d_epp_flow_control_queue_size"

GATEWAY_TOKENS = "agentgateway_gen_ai_client_token_usage"
# Each priced call's cost (counter, f64, unit "usd" in its name whatever maas:currency says),
# labelled like the gen_ai histograms (telemetry/metrics.rs gen_ai_client_cost).
GATEWAY_COST = "agentgateway_gen_ai_client_cost_usd_total"
GATEWAY_REQUESTS = "agentgateway_requests_total"

EPP_DISAGG_DECISIONS = "llm_d_epp_disagg_decision_total"

# Target labels the PodMonitors add from pod labels; prometheus-operator adds `namespace` and `pod`.
POOL = "pool"
ROLE = "role"
GATEWAY = "gateway"
# The labels the gateway adds to its metrics from the caller's API key (ConsumerAccess).
CONSUMER = "consumer"
TEAM = "team"


def series(metric: str, **matchers: str) -> str:
    """`metric{k="v",...}` with exact matchers; a value starting with `~` is a regex match."""
    parts = [
        f'{key}=~"{value[1:]}"' if value.startswith("~") else f'{key}="{value}"' for key, value in matchers.items()
    ]
    return f"{metric}{{{','.join(parts)}}}"


def waiting(namespace: str, pool: str, role: Optional[str] = None, held: bool = True) -> str:
    """Requests waiting for a pool's servers (of one `role` of a disaggregated model): queued in
    those servers and, unless `held` is False, held by the pool's endpoint picker. With flow
    control a saturated pool's servers keep only about the picker's saturation threshold in their
    own queues and the picker holds the rest (`pkg/epp/flowcontrol/README.md`, utilization
    detector at v0.10.0), so neither side alone counts the backlog. A side without series (no pod
    yet, nothing ever held) counts 0."""
    servers = series(SERVER_WAITING, namespace=namespace, **{POOL: pool}, **({ROLE: role} if role else {}))
    terms = [f"sum({servers})"]
    if held:
        terms.append(f"sum({series(EPP_HELD_REQUESTS, namespace=namespace, inference_pool=pool)})")
    return " + ".join(f"({term} or vector(0))" for term in terms)
