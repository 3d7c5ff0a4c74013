"""Who may call the endpoint (`maas:consumers`) and where their shared budgets are kept
(`maas:rateLimit`)."""

from __future__ import annotations

from typing import AbstractSet, Annotated, Literal, Optional, Sequence

from pydantic import Field, PositiveInt

from .errors import Violation
from .types import ClientName, DNS1123Label, ServiceName, StrictModel

# The budget service holds a limit as a uint32 (envoyproxy/ratelimit src/config/config_impl.go
# YamlRateLimit.RequestsPerUnit); a larger one makes it refuse the whole configuration.
MAX_BUDGET = 2**32 - 1
Budget = Annotated[int, Field(gt=0, le=MAX_BUDGET)]


class Consumer(StrictModel):
    """A team or application that gets its own API key."""

    name: DNS1123Label = Field(description="Consumer identity: names its key, its metrics label and its budget.")
    models: Optional[list[ClientName]] = Field(
        None,
        min_length=1,
        description="Served names this consumer may call; every served name when unset.",
    )
    tokens_per_minute: Optional[Budget] = Field(
        None, description="Input + output tokens per minute, shared by all gateway replicas."
    )
    requests_per_minute: Optional[Budget] = Field(None, description="Requests per minute, shared likewise.")
    key_version: PositiveInt = Field(1, description="Bump to replace this consumer's API key (and only it).")
    tier: Optional[DNS1123Label] = Field(
        None, description="Name of a maas:tiers entry: how soon a saturated pool serves this consumer."
    )
    team: Optional[DNS1123Label] = Field(
        None, description="Name of a maas:teams entry: whose spend this consumer's calls count towards."
    )

    @property
    def has_budget(self) -> bool:
        return self.tokens_per_minute is not None or self.requests_per_minute is not None


class RateLimitService(StrictModel):
    """An Envoy-ratelimit-compatible gRPC service that already runs on the cluster."""

    name: ServiceName = Field(description="Service name.")
    namespace: DNS1123Label = Field(description="Service namespace.")
    port: int = Field(8081, ge=1, le=65535, description="gRPC port of the service.")


class RateLimit(StrictModel):
    install: bool = Field(
        True,
        description="Run envoyproxy/ratelimit with Redis in the gateway namespace; false: use `service`.",
    )
    service: Optional[RateLimitService] = Field(
        None, description="The existing rate-limit service to use when install is false: {name, namespace, port}."
    )
    failure_mode: Literal["FailOpen", "FailClosed"] = Field(
        "FailOpen",
        description="When the rate-limit service is unreachable: FailOpen serves without budgets (keys and "
        "model access still hold); FailClosed answers 500 to every budgeted request.",
    )
    domain: DNS1123Label = Field("maas", description="Rate-limit domain of this gateway's descriptors.")
    replicas: int = Field(1, ge=1, le=5, description="Replicas of the installed rate-limit service.")


def check_consumers(
    consumers: list[Consumer], rate_limit: RateLimit, name_owner: dict[str, tuple[str | int, ...]], budgeted: bool
) -> list[Violation]:
    """Rules that span consumers, the catalog (`name_owner`: every served name) and rateLimit
    (`budgeted`: some consumer's or team's budget needs the budget service)."""
    violations: list[Violation] = []
    first_use: dict[str, int] = {}
    for index, consumer in enumerate(consumers):
        at: tuple[str | int, ...] = ("consumers", index)
        if consumer.name in first_use:
            violations.append(
                Violation(at + ("name",), consumer.name,
                          f"already used by consumers[{first_use[consumer.name]}]; consumer names must be unique")
            )
        else:
            first_use[consumer.name] = index
        for i, model in enumerate(consumer.models or []):
            if model not in name_owner:
                violations.append(
                    Violation(at + ("models", i), model,
                              "no model or adapter in maas:models serves this name; allowed: "
                              + ", ".join(sorted(name_owner)[:20]) + (" ..." if len(name_owner) > 20 else ""))
                )
    if rate_limit.install and rate_limit.service is not None:
        violations.append(
            Violation(("rateLimit", "service"), rate_limit.service.model_dump(by_alias=True),
                      "install: true runs the service in the stack; set install: false to use this one instead")
        )
    if not rate_limit.install and rate_limit.service is None and budgeted:
        violations.append(
            Violation(("rateLimit", "service"), None,
                      "consumers or teams have budgets and install is false: name the existing service "
                      "{name, namespace, port}, or set install: true")
        )
    return violations


def check_consumer_groups(
    key: str, field: str, group_names: Sequence[str], consumers: Sequence[Consumer], also_declared: AbstractSet[str] = frozenset()
) -> list[Violation]:
    """A list of groups consumers join by name (`maas:tiers` through `tier`, `maas:teams` through
    `team`): unique names, and every consumer's group declared (`also_declared`: names of entries
    that did not parse, which the loader leaves out of this check)."""
    violations: list[Violation] = []
    first_use: dict[str, int] = {}
    for index, name in enumerate(group_names):
        if name in first_use:
            violations.append(
                Violation((key, index, "name"), name, f"already used by {key}[{first_use[name]}]; {field} names must be unique")
            )
        else:
            first_use[name] = index
    for index, consumer in enumerate(consumers):
        group = getattr(consumer, field)
        if group is not None and group not in first_use and group not in also_declared:
            allowed = ", ".join(sorted(first_use)) or f"none (maas:{key} is empty)"
            violations.append(
                Violation(("consumers", index, field), group, f"no {field} of that name in maas:{key}; allowed: {allowed}")
            )
    return violations
