"""Prefill/decode disaggregation: a model's `prefill` key.

Its presence splits the model in two workloads in one pool, as KServe's LLMInferenceService does:
the model's own `replicas`, `tensorParallel` and `autoscaling` describe the decode side, which
runs the llm-d router's P/D sidecar in front of vLLM, and `prefill` the pods that only compute
prompts. The pool's picker sends a long prompt's prefill to a prefill pod and the decode pod reads
the KV cache from it over NIXL (llm-d-router v0.10.0 docs/disaggregation.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from pydantic import Field

from .errors import Violation
from .scaling import ModelAutoscaling
from .types import Resources, StrictModel

if TYPE_CHECKING:
    from .config import Model

# Prompts with fewer tokens than this not already in the decode pod's prefix cache are computed
# there: for a short prompt the hop to a prefill pod and the KV transfer cost more than they save.
# Upstream's sample (deploy/config/pd-epp-config.yaml) uses 16, which sends nearly every prompt
# to prefill; 256 keeps chat turns local and splits off documents, code and long agent context.
DEFAULT_NON_CACHED_TOKENS = 256


class Prefill(StrictModel):
    replicas: int = Field(1, ge=1, le=64, description="Prefill pods (at least 1: a pool without one never disaggregates).")
    tensor_parallel: int = Field(1, ge=1, le=8, description="GPUs per prefill pod (at most 8).")
    resources: Optional[Resources] = Field(None, description="CPU/memory of a prefill pod; defaults as the model's.")
    extra_args: list[str] = Field(default_factory=list, description="Extra server arguments of prefill pods.")
    autoscaling: Optional[ModelAutoscaling] = Field(
        None, description="Scale the prefill pods on their own queue: {minReplicas, maxReplicas, queueDepth}."
    )
    non_cached_tokens: int = Field(
        DEFAULT_NON_CACHED_TOKENS,
        ge=1,
        le=1_000_000,
        description="A prompt goes to a prefill pod only when at least this many of its tokens are not in the "
        "decode pod's prefix cache (the picker's prefix-based-pd-decider).",
    )


def check_disaggregation(model: "Model", at: tuple[str | int, ...]) -> list[Violation]:
    """Combinations the router or vLLM v0.19.1 cannot serve."""
    prefill = model.prefill
    assert prefill is not None
    violations: list[Violation] = []
    if model.server == "simulator" and prefill.tensor_parallel != 1:
        violations.append(
            Violation(at + ("prefill", "tensorParallel"), prefill.tensor_parallel,
                      "simulators use no GPUs; allowed: 1 (or set server: vllm)")
        )
    if model.multi_node:
        # A multi-node model runs one pipeline stage per node, and vLLM v0.19.1's NixlConnector
        # keys its handshake by tensor rank only: it does not support pipeline parallelism
        # (vllm-project/vllm#40674).
        violations.append(
            Violation(at + ("nodes",), model.nodes,
                      "a disaggregated model's decode side moves its KV cache over NIXL, which vLLM v0.19.1 does not "
                      "support across pipeline stages (one per node); allowed: 1, or remove prefill")
        )
    if model.autoscaling and model.autoscaling.min_replicas == 0:
        violations.append(
            Violation(at + ("autoscaling", "minReplicas"), 0,
                      "the pool's prefill pods keep it non-empty, so its picker would not hold a request for a decode "
                      "pod that is not there: it would answer 503 and never wake the decode side; allowed: 1 or more")
        )
    if prefill.autoscaling and prefill.autoscaling.min_replicas == 0:
        violations.append(
            Violation(at + ("prefill", "autoscaling", "minReplicas"), 0,
                      "with no prefill pod the picker computes every prompt on a decode pod, so no prefill queue ever "
                      "forms to wake the prefill side; allowed: 1 or more")
        )
    return violations
