"""What the llm-d router's endpoint picker (v0.10.0) does with a request, from recorded objects:
which objective its headers name and so its priority, its fairness ID, and the order its flow
control releases held requests in.

Written from upstream source, independently of the component code:
- headers (pkg/epp/metadata/consts.go): `x-llm-d-inference-objective` and
  `x-llm-d-inference-fairness-id`, else their `x-gateway-inference-*` aliases;
- objectives (pkg/epp/controller/inferenceobjective_reconciler.go, requestcontrol/director.go):
  the picker keeps the objectives in its namespace whose poolRef is its own pool and finds one
  by name; no objective, or one it does not keep, means priority 0; no fairness ID means
  `default-flow`;
- flow control (pkg/epp/flowcontrol/README.md, controller/internal/processor.go dispatchCycle,
  registry/config.go, framework/plugins/flowcontrol/fairness): only with the `flowControl`
  feature gate. Each cycle dispatches one request from the highest-priority band holding any,
  while the pool is below saturation; an empty pool is saturated, so requests wait there (the
  scale-from-zero waiting room) until `defaultRequestTTL` (60 s unless set) sheds them. A band's
  fairness policy picks the flow: `global-strict-fairness-policy` (the default) the oldest
  request of any flow, `round-robin-fairness-policy` the next flow after the last one served,
  flows sorted by ID; within a flow, first come first served;
- prefill/decode (framework/plugins/scheduling/profilehandler/disagg, filter/bylabel/roles.go,
  requestcontrol/dataproducer/tokenizer/estimate.go): the disaggregation handler runs its
  decode profile, then its prefill profile when the prefix-based decider finds at least
  `nonCachedTokens` of the prompt (4 bytes a token without a tokenizer) missing from the decode
  pod's prefix cache (0 disables it), and sends the prefill pod as `x-prefiller-host-port`, its
  address and the pool's target port. `decode-filter` keeps pods labelled `llm-d.ai/role` decode
  (or prefill-decode, both, encode-prefill-decode) and pods without the label; `prefill-filter`
  keeps prefill (or encode-prefill, prefill-decode, both, encode-prefill-decode).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

from gateway_sim import Pods, _volume_files, epp_flag

OBJECTIVE_HEADERS = ("x-llm-d-inference-objective", "x-gateway-inference-objective")
FAIRNESS_HEADERS = ("x-llm-d-inference-fairness-id", "x-gateway-inference-fairness-id")
DEFAULT_FAIRNESS_ID = "default-flow"
DEFAULT_TTL_SECONDS = 60.0
GLOBAL_STRICT = "global-strict-fairness-policy"


ROLE_LABEL = "llm-d.ai/role"
ROLE_FILTERS = {
    "decode-filter": ({"decode", "prefill-decode", "both", "encode-prefill-decode"}, True),
    "prefill-filter": ({"prefill", "encode-prefill", "prefill-decode", "both", "encode-prefill-decode"}, False),
}  # filter type -> (roles it keeps, whether it keeps pods without the label)
BYTES_PER_TOKEN = 4
PREFILLER_HEADER = "x-prefiller-host-port"


@dataclass
class Schedule:
    decode: Pods
    prefill: Optional[Pods]
    headers: dict[str, str]
    """What the picker adds to the request: the prefill pod's address, when there is one."""


@dataclass(frozen=True)
class Admission:
    priority: int
    fairness_id: str
    objective: Optional[str]
    """The objective the picker found, if any."""


def _first(headers: dict[str, str], names: tuple[str, ...]) -> Optional[str]:
    return next((headers[name] for name in names if name in headers), None)


def _seconds(duration: str) -> float:
    assert duration.endswith("s") and duration[:-1].isdigit(), duration
    return float(duration[:-1])


class EndpointPicker:
    """One pool's picker: its config file (read from the ConfigMap its Deployment mounts at the
    `--config-file` path) and the objectives it would keep."""

    def __init__(self, objects: list[dict[str, Any]], deployment: dict[str, Any]):
        self.pool = epp_flag(deployment, "--pool-name")
        self.namespace = epp_flag(deployment, "--pool-namespace")
        container = deployment["spec"]["template"]["spec"]["containers"][0]

        def lookup(kind: str, name: str, namespace: str) -> Optional[dict[str, Any]]:
            return next((o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name
                         and o["metadata"].get("namespace") == namespace), None)  # fmt: skip

        files = _volume_files(lookup, deployment, container)
        self.config = yaml.safe_load(files[epp_flag(deployment, "--config-file")])
        self.objectives = {
            o["metadata"]["name"]: o["spec"].get("priority", 0)
            for o in objects
            if o.get("kind") == "InferenceObjective"
            and o["apiVersion"] == "llm-d.ai/v1alpha2"
            and o["metadata"].get("namespace") == self.namespace
            and o["spec"]["poolRef"]["name"] == self.pool
            and o["spec"]["poolRef"].get("group", "inference.networking.k8s.io") == "inference.networking.k8s.io"
        }

    def admit(self, headers: dict[str, str]) -> Admission:
        headers = {k.lower(): v for k, v in headers.items()}
        name = _first(headers, OBJECTIVE_HEADERS)
        found = name if name in self.objectives else None
        return Admission(self.objectives[found] if found else 0, _first(headers, FAIRNESS_HEADERS) or DEFAULT_FAIRNESS_ID, found)

    def schedule(self, pods: list[Pods], prompt: str, port: int) -> Schedule:
        """Which of the pool's `pods` take a request with `prompt` (the first candidate of each
        profile stands in for the scorers' choice); `port` is the pool's target port."""
        plugins = {plugin.get("name", plugin["type"]): plugin for plugin in self.config["plugins"]}
        profiles = {profile["name"]: profile for profile in self.config["schedulingProfiles"]}
        handler = next((p for p in plugins.values() if p["type"] == "disagg-profile-handler"), None)
        if handler is None:
            (profile,) = profiles.values()
            return Schedule(self._candidates(profile, plugins, pods)[0], None, {})
        parameters = handler.get("parameters", {})
        names = {"decode": "decode", "prefill": "prefill", **parameters.get("profiles", {})}
        decode = self._candidates(profiles[names["decode"]], plugins, pods)[0]
        decider = plugins.get(parameters.get("deciders", {}).get("prefill", ""))
        threshold = (decider or {}).get("parameters", {}).get("nonCachedTokens", 0)
        if decider is None or threshold == 0 or len(prompt.encode()) // BYTES_PER_TOKEN < threshold:
            return Schedule(decode, None, {})
        prefill = self._candidates(profiles[names["prefill"]], plugins, pods)[0]
        address = prefill.deployment["metadata"]["name"]  # the pod's IP, in a cluster
        return Schedule(decode, prefill, {PREFILLER_HEADER: f"{address}:{port}"})

    @staticmethod
    def _candidates(profile: dict[str, Any], plugins: dict[str, dict], pods: list[Pods]) -> list[Pods]:
        kept = list(pods)
        for ref in profile["plugins"]:
            rule = ROLE_FILTERS.get(plugins[ref["pluginRef"]]["type"])
            if rule is not None:
                roles, unlabelled = rule
                kept = [p for p in kept if p.labels.get(ROLE_LABEL) in roles or (unlabelled and ROLE_LABEL not in p.labels)]
        assert kept, f"profile {profile['name']} has no candidate"
        return kept

    @property
    def flow_control(self) -> bool:
        return "flowControl" in self.config.get("featureGates", [])

    def controller(self) -> "FlowController":
        assert self.flow_control, "without the flowControl gate the picker holds nothing"
        return FlowController(self.config.get("flowControl", {}))


@dataclass
class Held:
    request: str
    admission: Admission
    since: float
    order: int


@dataclass
class FlowController:
    config: dict[str, Any]
    queues: dict[int, dict[str, list[Held]]] = field(default_factory=dict)
    cursors: dict[int, str] = field(default_factory=dict)
    _arrivals: itertools.count = field(default_factory=itertools.count)

    def fairness_of(self, priority: int) -> str:
        bands = {band["priority"]: band for band in self.config.get("priorityBands", [])}
        band = bands.get(priority, self.config.get("defaultPriorityBand", {}))
        return band.get("fairnessPolicyRef", GLOBAL_STRICT)

    @property
    def ttl(self) -> float:
        return _seconds(self.config["defaultRequestTTL"]) if "defaultRequestTTL" in self.config else DEFAULT_TTL_SECONDS

    def enqueue(self, request: str, admission: Admission, now: float = 0.0) -> None:
        flows = self.queues.setdefault(admission.priority, {})
        flows.setdefault(admission.fairness_id, []).append(Held(request, admission, now, next(self._arrivals)))

    @property
    def held(self) -> int:
        return sum(len(queue) for flows in self.queues.values() for queue in flows.values())

    def shed_expired(self, now: float) -> list[str]:
        shed = []
        for flows in self.queues.values():
            for fairness_id, queue in flows.items():
                shed += [h.request for h in queue if now - h.since >= self.ttl]
                flows[fairness_id] = [h for h in queue if now - h.since < self.ttl]
        return shed

    def dispatch(self, free_slots: int, now: float = 0.0) -> list[str]:
        """Cycles while the pool has room: `free_slots` requests the pool can take before it is
        saturated (0 for an empty pool). Requests past their TTL are shed first."""
        self.shed_expired(now)
        released = []
        while free_slots > 0:
            held = self._next()
            if held is None:
                break
            released.append(held.request)
            free_slots -= 1
        return released

    def _next(self) -> Optional[Held]:
        for priority in sorted(self.queues, reverse=True):
            flows = {key: queue for key, queue in self.queues[priority].items() if queue}
            if not flows:
                continue
            if self.fairness_of(priority) == GLOBAL_STRICT:
                key = min(flows, key=lambda k: flows[k][0].order)
            else:
                keys = sorted(flows)
                last = self.cursors.get(priority)
                key = next((k for k in keys if last is not None and k > last), keys[0])
                self.cursors[priority] = key
            return self.queues[priority][key].pop(0)
        return None

