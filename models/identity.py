"""The names of the objects a config creates: each fits where it lands, and no two resources are
the same Kubernetes object (two resources would own it, and each `pulumi up` would fight the
other, or the second create would fail)."""

from __future__ import annotations

from typing import Sequence

from .catalog import Model
from .errors import Violation, dotted_path
from .names import DATA_PLANE, RATE_LIMIT_STORE, gateway_object
from .routes import route_names


def check_gateway_name(gateway: str, budget_service_installed: bool, monitored: bool) -> list[Violation]:
    """The Services and labels named after the Gateway that this config creates fit 63 characters."""
    derived = []
    if budget_service_installed:
        derived.append((gateway_object(gateway, RATE_LIMIT_STORE), "the budget service's Redis Service"))
    if monitored:
        derived.append((gateway_object(gateway, DATA_PLANE), "the data plane's PodMonitor (and its label)"))
    return [
        Violation(("gateway", "name"), gateway,
                  f"{name!r}, {what}, would be {len(name)} characters; a name or label value holds 63, so the "
                  f"gateway name may have at most {63 - len(name) + len(gateway)} here")
        for name, what in derived
        if len(name) > 63
    ]


def check_route_names(models: Sequence[Model]) -> list[Violation]:
    """A model too big for one HTTPRoute adds `<pool>-2`, ...; such a name must not be another
    model's pool (its first route, backend policy and scheduling policy carry the pool's name)."""
    owner: dict[str, int] = {model.pool_name: index for index, model in enumerate(models)}
    violations = []
    for index, model in enumerate(models):
        for route in route_names(model.pool_name, model.served_names)[1:]:
            if route in owner:
                violations.append(
                    Violation(("models", owner[route], "pool" if models[owner[route]].pool else "name"), route,
                              f"is also the name of models[{index}]'s second or later HTTPRoute "
                              f"({len(model.served_names)} names need more than one); choose another pool name")
                )
    return violations


def check_namespaces(created: Sequence[tuple[tuple[str, ...], str]]) -> list[Violation]:
    """Each namespace the stack creates (`created`: where it is configured, and its name) is created
    once: the gateway's, the models', and those of the add-ons it installs."""
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
