"""Prefill/decode disaggregation: a model's `prefill` key.

Its presence splits the model in two workloads in one pool, as KServe's LLMInferenceService does:
the model's own `replicas`, `tensorParallel` and `autoscaling` describe the decode side, which
runs the llm-d router's P/D sidecar in front of vLLM, and `prefill` the pods that only compute
prompts. The pool's picker sends a long prompt's prefill to a prefill pod and the decode pod reads
the KV cache from it over NIXL (llm-d-router v0.10.0 docs/disaggregation.md).
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from .scaling import ModelAutoscaling
from .types import Resources, StrictModel

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
