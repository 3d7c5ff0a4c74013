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
  flows sorted by ID; within a flow, first come first served.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

from gateway_sim import _volume_files, epp_flag

OBJECTIVE_HEADERS = ("x-llm-d-inference-objective", "x-gateway-inference-objective")
FAIRNESS_HEADERS = ("x-llm-d-inference-fairness-id", "x-gateway-inference-fairness-id")
DEFAULT_FAIRNESS_ID = "default-flow"
DEFAULT_TTL_SECONDS = 60.0
GLOBAL_STRICT = "global-strict-fairness-policy"


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

