"""Consumer tiers (`maas:tiers`): whose requests a saturated pool serves first.

A tier is a name and a priority. Each pool's endpoint picker learns a request's priority from the
InferenceObjective the gateway names for the caller's tier; a caller without a tier gets the
picker's default, priority 0 (llm-d-router v0.10.0 `pkg/epp/requestcontrol/director.go`).
"""

from __future__ import annotations

from typing import AbstractSet, Annotated, Sequence

from pydantic import AfterValidator, Field

from .consumers import Consumer
from .errors import Violation
from .types import DNS1123Label, StrictModel

# Priorities only order tiers, so a few levels are all anyone needs; the bound catches a typo
# (10000 for 100) long before the CRD's int32 would.
MAX_PRIORITY = 1000
UNTIERED_PRIORITY = 0


def _bounded(priority: int) -> int:
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"must be between -{MAX_PRIORITY} and {MAX_PRIORITY} (higher is served first)")
    return priority


class Tier(StrictModel):
    name: DNS1123Label = Field(description="Tier name consumers refer to with `tier`.")
    priority: Annotated[int, AfterValidator(_bounded)] = Field(
        description="Higher is served first when a pool is saturated; consumers without a tier have 0. "
        "Negative is allowed (below untiered callers).",
    )


def priority_bands(tiers: Sequence[Tier]) -> list[int]:
    """The flow-control priority bands every endpoint picker runs: one per tier priority, and the
    untiered callers' own, highest first."""
    return sorted({UNTIERED_PRIORITY, *(tier.priority for tier in tiers)}, reverse=True)


def check_tiers(tiers: Sequence[Tier], consumers: Sequence[Consumer], also_declared: AbstractSet[str] = frozenset()) -> list[Violation]:
    """Unique tier names, and every consumer's tier declared (`also_declared`: tiers declared by
    entries that did not parse, which the loader leaves out of this check)."""
    violations: list[Violation] = []
    first_use: dict[str, int] = {}
    for index, tier in enumerate(tiers):
        if tier.name in first_use:
            violations.append(
                Violation(("tiers", index, "name"), tier.name,
                          f"already used by tiers[{first_use[tier.name]}]; tier names must be unique")
            )
        else:
            first_use[tier.name] = index
    for index, consumer in enumerate(consumers):
        if consumer.tier is not None and consumer.tier not in first_use and consumer.tier not in also_declared:
            allowed = ", ".join(sorted(first_use)) or "none (maas:tiers is empty)"
            violations.append(
                Violation(("consumers", index, "tier"), consumer.tier,
                          f"no tier of that name in maas:tiers; allowed: {allowed}")
            )
    return violations
