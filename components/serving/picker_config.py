"""The EndpointPickerConfig each pool's endpoint picker (EPP) reads at start, in the structure of
the llm-d router v0.10.0 (`apix/config/v1alpha1/endpointpickerconfig_types.go`, group llm-d.ai).

Every part is written out rather than left to the picker's defaults, so the ConfigMap says what
runs (`pkg/epp/config/loader/defaults.go` would otherwise inject most of it):
- request handling: the OpenAI parser (chat, completions, embeddings, responses);
- data layer: each model server's /metrics (queue, KV cache, LoRA) through the core extractor;
- flow control: on for every pool. Requests wait in the picker while the pool is saturated, or
  has no pod at all (that is what lets a pool scale to zero), and leave by priority band, highest
  first; within a band the round-robin policy takes one request from each caller (fairness ID) in
  turn, where upstream's default (global-strict) would serve a flooding caller first
  (`pkg/epp/flowcontrol/README.md`, `framework/plugins/flowcontrol/fairness/roundrobin`);
- scheduling: the scorers the GAIE chart shipped (queue depth 2, KV-cache use 2, prefix-cache
  affinity 3), the prefix scorer fed by the approximate prefix-cache producer;
- a disaggregated model's pool: the disaggregation profile handler runs a `decode` profile
  (decode pods, by their `llm-d.ai/role`), then, when the prefix-based decider finds enough of
  the prompt missing from the chosen decode pod's prefix cache, a `prefill` profile (prefill
  pods), each with the same scorers (deploy/config/pd-epp-config.yaml, docs/disaggregation.md,
  framework/plugins/scheduling/profilehandler/disagg and filter/bylabel at v0.10.0).
"""

from __future__ import annotations

import json
from typing import Sequence

from llm_maas.models import DECODE, PREFILL, Model

from ..kube import LLMD_GROUP

FLOW_CONTROL_GATE = "flowControl"
PARSER = "openai-parser"
METRICS_SOURCE = "metrics-data-source"
METRICS_EXTRACTOR = "core-metrics-extractor"
PREFIX_PRODUCER = "approx-prefix-cache-producer"
FAIRNESS = "round-robin-fairness-policy"
SCORERS = {"queue-scorer": 2, "kv-cache-utilization-scorer": 2, "prefix-cache-scorer": 3}
PROFILE_HANDLER = "disagg-profile-handler"
PREFILL_DECIDER = "prefix-based-pd-decider"
# Scheduling profile -> the filter that keeps only that role's pods.
ROLE_FILTERS = {DECODE: "decode-filter", PREFILL: "prefill-filter"}

def cold_start_wait_seconds(model: Model) -> int:
    """How long a request may wait in the picker for a pool that can scale to zero: long enough
    for a pod to be started, short enough that the gateway's own timeout for the model still
    leaves a minute (or, for a short timeout, half of it) to answer. Other pools keep upstream's
    60 s, after which a request waiting on a saturated pool is shed."""
    timeout = int(model.request_timeout_seconds)
    return max(timeout - 60, timeout // 2)


def _band(priority: int) -> dict:
    return {"priority": priority, "fairnessPolicyRef": FAIRNESS}


def flow_control(model: Model, bands: Sequence[int]) -> dict:
    """A band per priority in use, and the same fairness for any band an objective made outside
    this stack brings (the default band is the template for those)."""
    config: dict = {
        "defaultPriorityBand": _band(0),
        "priorityBands": [_band(priority) for priority in bands],
    }
    if model.holds_requests_at_zero:
        config["defaultRequestTTL"] = f"{cold_start_wait_seconds(model)}s"
    return config


def _profile(name: str, role_filter: Sequence[str] = ()) -> dict:
    scorers = [{"pluginRef": scorer, "weight": weight} for scorer, weight in SCORERS.items()]
    return {"name": name, "plugins": [*({"pluginRef": f} for f in role_filter), *scorers]}


def scheduling(model: Model) -> tuple[list[dict], list[dict]]:
    """The plugins scheduling adds beyond the scorers, and the scheduling profiles."""
    if model.prefill is None:
        return [], [_profile("default")]
    plugins = [
        *({"type": role_filter} for role_filter in ROLE_FILTERS.values()),
        {"type": PREFILL_DECIDER, "parameters": {"nonCachedTokens": model.prefill.non_cached_tokens}},
        {"type": PROFILE_HANDLER, "parameters": {"deciders": {PREFILL: PREFILL_DECIDER}}},
    ]
    return plugins, [_profile(role, [role_filter]) for role, role_filter in ROLE_FILTERS.items()]


def endpoint_picker_config(model: Model, bands: Sequence[int]) -> str:
    """The config of `model`'s pool; `bands` are the priorities of the stack's tiers and of
    untiered callers."""
    plugins = [PARSER, METRICS_SOURCE, METRICS_EXTRACTOR, PREFIX_PRODUCER, *SCORERS, FAIRNESS]
    scheduling_plugins, profiles = scheduling(model)
    config = {
        "apiVersion": f"{LLMD_GROUP}/v1alpha1",
        "kind": "EndpointPickerConfig",
        "featureGates": [FLOW_CONTROL_GATE],
        "plugins": [*({"type": plugin} for plugin in plugins), *scheduling_plugins],
        "requestHandler": {"parsers": [{"pluginRef": PARSER}]},
        "dataLayer": {"sources": [{"pluginRef": METRICS_SOURCE, "extractors": [{"pluginRef": METRICS_EXTRACTOR}]}]},
        "flowControl": flow_control(model, bands),
        "schedulingProfiles": profiles,
    }
    return json.dumps(config, indent=2)
