"""PoolScheduling: what one pool's endpoint picker learns about who is asking, and how urgent it is
(and, on the same route transformation, a body whose token usage can be counted: usage.py).

The llm-d router's picker reads two request headers (`pkg/epp/metadata/consts.go` at v0.10.0):
the name of an InferenceObjective, whose priority orders the flow-control bands, and a fairness
ID, the unit its fairness policy shares a band between. It also reads their older x-gateway-*
names when the new ones are absent. A client must never pick its own priority or pose as
another consumer, so this pool's routes rewrite all four before the pool is called:
- the objective: `<pool>.<tier>` of the caller's tier (from its API key); a caller without a tier
  gets none, which the picker serves at priority 0;
- the fairness ID: the consumer's name;
- the older names: removed;
- `x-prefiller-host-port`, which tells a disaggregated pool's decode pod where to send the
  prompt: removed, so only the picker sets it (after this transformation, as its own mutation).

agentgateway applies a route's request transformation before it calls the pool's picker
(`proxy/httpproxy.rs` at v1.4.1: route policies, then backend, then inference routing), runs
`add`, `set`, `remove` in that order, and removes a header whose `set` expression fails
(`http/transformation_cel.rs`, `http/mod.rs` apply_header): so with no key, or no tier, the
header the client sent is dropped rather than passed on.

One InferenceObjective per tier per pool: the picker keeps only objectives whose poolRef is its
own pool and looks them up by name (`pkg/epp/controller/inferenceobjective_reconciler.go`).
The header expressions never name a tier, so adding a tier adds objectives and edits no route
or policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi

from llm_maas.models import Tier, objective_name

from ..consumers.access import CONSUMER_EXPRESSION, TIER_FIELD
from ..consumers.usage import USAGE_REPORTING_BODY
from ..kube import (
    AGENTGATEWAY_POLICY,
    HTTP_ROUTE,
    INFERENCE_OBJECTIVE,
    INFERENCE_POOL,
    custom_resource,
    known,
    labels,
    meta,
    target_ref,
)

OBJECTIVE_HEADER = "x-llm-d-inference-objective"
FAIRNESS_HEADER = "x-llm-d-inference-fairness-id"
LEGACY_HEADERS = ("x-gateway-inference-objective", "x-gateway-inference-fairness-id")
# Where a decode pod's P/D sidecar sends the prompt (pkg/common/routing/common.go at v0.10.0): only
# the picker may say, or a client could make the sidecar post prompts to any address it names.
PREFILLER_HEADER = "x-prefiller-host-port"


def objective_expression(pool: str) -> str:
    """CEL: this pool's objective for the caller's tier; fails (drops the header) without one."""
    return f"{json.dumps(objective_name(pool, ''))} + apiKey.{TIER_FIELD}"


def route_request(pool: str) -> dict:
    """The request transformation of every route to `pool`: the picker's headers, and a body
    whose usage can be counted (usage.py; one transformation per route, so both live here)."""
    return {
        "set": [
            {"name": OBJECTIVE_HEADER, "value": objective_expression(pool)},
            {"name": FAIRNESS_HEADER, "value": CONSUMER_EXPRESSION},
        ],
        "remove": [*LEGACY_HEADERS, PREFILLER_HEADER],
        "body": USAGE_REPORTING_BODY,
    }


@dataclass
class PoolSchedulingArgs:
    pool: str
    namespace: pulumi.Input[str]
    route_names: Sequence[str]
    """The pool's HTTPRoutes, in the pool's namespace."""
    tiers: Sequence[Tier] = field(default_factory=list)
    crds: Sequence[pulumi.Resource] = field(default_factory=list)
    routes: Sequence[pulumi.Resource] = field(default_factory=list)
    """The HTTPRoutes themselves, which the policies wait for."""


class PoolScheduling(pulumi.ComponentResource):
    objectives: pulumi.Output[dict[str, str]]
    """Tier -> the name of this pool's InferenceObjective for it."""

    def __init__(self, name: str, args: PoolSchedulingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:PoolScheduling", name, None, opts)
        object_labels = labels("scheduling", args.pool)
        names = {tier.name: objective_name(args.pool, tier.name) for tier in args.tiers}
        for tier in args.tiers:
            custom_resource(
                self,
                f"{name}-{tier.name}-objective",
                INFERENCE_OBJECTIVE,
                meta(names[tier.name], args.namespace, object_labels),
                {"poolRef": target_ref(INFERENCE_POOL, args.pool), "priority": tier.priority},
                args.crds,
            )
        for route in args.route_names:
            custom_resource(
                self,
                f"{name}-{route}-headers",
                AGENTGATEWAY_POLICY,
                meta(route, args.namespace, object_labels),
                {
                    "targetRefs": [target_ref(HTTP_ROUTE, route)],
                    "traffic": {"transformation": {"request": route_request(args.pool)}},
                },
                [*args.crds, *args.routes],
            )
        self.objectives = known(names)
        self.register_outputs({"objectives": self.objectives})
