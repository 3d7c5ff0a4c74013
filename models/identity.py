"""The names of the objects a config creates: each fits where it lands, and no two resources are
the same Kubernetes object (two resources would own it, and each `pulumi up` would fight the
other, or the second create would fail)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import Violation, dotted_path
from .names import DATA_PLANE, RATE_LIMIT_STORE, gateway_object
from .routes import route_names

if TYPE_CHECKING:
    from .config import Config


def check_gateway_name(config: "Config") -> list[Violation]:
    """The Services and labels named after the Gateway that this config creates fit 63 characters."""
    derived = []
    if config.rate_limit.install and config.budgets_enforced:
        derived.append((gateway_object(config.gateway.name, RATE_LIMIT_STORE), "the budget service's Redis Service"))
    if config.monitoring.enabled:
        derived.append((gateway_object(config.gateway.name, DATA_PLANE), "the data plane's PodMonitor (and its label)"))
    return [
        Violation(("gateway", "name"), config.gateway.name,
                  f"{name!r}, {what}, would be {len(name)} characters; a name or label value holds 63, so the "
                  f"gateway name may have at most {63 - len(name) + len(config.gateway.name)} here")
        for name, what in derived
        if len(name) > 63
    ]


def check_route_names(config: "Config") -> list[Violation]:
    """A model too big for one HTTPRoute adds `<pool>-2`, ...; such a name must not be another
    model's pool (its first route, backend policy and scheduling policy carry the pool's name)."""
    owner: dict[str, int] = {model.pool_name: index for index, model in enumerate(config.models)}
    violations = []
    for index, model in enumerate(config.models):
        for route in route_names(model.pool_name, model.served_names)[1:]:
            if route in owner:
                violations.append(
                    Violation(("models", owner[route], "pool" if config.models[owner[route]].pool else "name"), route,
                              f"is also the name of models[{index}]'s second or later HTTPRoute "
                              f"({len(model.served_names)} names need more than one); choose another pool name")
                )
    return violations


def check_namespaces(config: "Config") -> list[Violation]:
    """Each namespace the stack creates is created once: the gateway's, the models', and those of
    the add-ons it installs."""
    created = [(("gateway", "namespace"), config.gateway.namespace), (("namespace",), config.namespace)]
    if config.monitoring.install:
        created.append((("monitoring", "namespace"), config.monitoring.namespace))
    if config.autoscaling.install and any(workload.autoscaling for workload in config.workloads):
        created.append((("autoscaling", "namespace"), config.autoscaling.namespace))
    if config.leader_worker_set.install:
        created.append((("leaderWorkerSet", "namespace"), config.leader_worker_set.namespace))
    seen: dict[str, tuple[str, ...]] = {}
    violations = []
    for loc, namespace in created:
        if namespace in seen and loc[0] != "namespace":
            violations.append(
                Violation(loc, namespace,
                          f"is also {dotted_path(seen[namespace])}, and the stack creates both namespaces; "
                          "an add-on it installs gets a namespace of its own")
            )
        seen.setdefault(namespace, loc)
    return violations
