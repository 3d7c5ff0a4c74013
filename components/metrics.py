"""The metrics dashboards and autoscaling triggers read, as the pinned images name them, and the
target labels the PodMonitors add. Nothing else in the stack spells a metric name.

Sources:
- vLLM v0.19.1 `vllm/v1/metrics/loggers.py` (labels model_name, engine; the Python client adds
  `_total` to counters) and llm-d-inference-sim v0.8.2 `pkg/llm-d-inference-sim/metrics.go`
  (label model_name), which exports the same names. `vllm:gpu_cache_usage_perc` is gone since
  vLLM PR #29330; `vllm:kv_cache_usage_perc` replaces it.
- GAIE endpoint picker v1.5.0 `pkg/epp/metrics/metrics.go`: pool gauges labelled `name` (the
  pool); flow-control gauges labelled `inference_pool`.
- agentgateway v1.4.1 `crates/agentgateway/src/telemetry/metrics.rs`: registry prefix
  `agentgateway_`; gen_ai histograms labelled gen_ai_token_type, gen_ai_request_model, the route
  and the custom attributes of `frontend.metrics` (our `consumer`).
"""

from __future__ import annotations

SERVER_WAITING = "vllm:num_requests_waiting"
SERVER_RUNNING = "vllm:num_requests_running"
SERVER_KV_CACHE = "vllm:kv_cache_usage_perc"
SERVER_TTFT = "vllm:time_to_first_token_seconds"
SERVER_PROMPT_TOKENS = "vllm:prompt_tokens_total"
SERVER_GENERATION_TOKENS = "vllm:generation_tokens_total"
SERVER_REQUESTS = "vllm:request_success_total"

EPP_READY_PODS = "inference_pool_ready_pods"
EPP_HELD_REQUESTS = "inference_extension_flow_control_queue_size"

GATEWAY_TOKENS = "agentgateway_gen_ai_client_token_usage"
GATEWAY_REQUESTS = "agentgateway_requests_total"

# Target labels the PodMonitors add from pod labels; prometheus-operator adds `namespace` and `pod`.
POOL = "pool"
GATEWAY = "gateway"
# The label the gateway adds to its metrics from the caller's API key (ConsumerAccess).
CONSUMER = "consumer"


def series(metric: str, **matchers: str) -> str:
    """`metric{k="v",...}` with exact matchers; a value starting with `~` is a regex match."""
    parts = [
        f'{key}=~"{value[1:]}"' if value.startswith("~") else f'{key}="{value}"' for key, value in matchers.items()
    ]
    return f"{metric}{{{','.join(parts)}}}"


def pool_queue(namespace: str, pool: str) -> str:
    """Requests waiting in the pool's model servers, summed over its pods."""
    return f"sum({series(SERVER_WAITING, namespace=namespace, **{POOL: pool})})"


def pool_held_requests(namespace: str, pool: str) -> str:
    """Requests the pool's endpoint picker holds (flow control) while no pod can take them."""
    return f"sum({series(EPP_HELD_REQUESTS, namespace=namespace, inference_pool=pool)})"
