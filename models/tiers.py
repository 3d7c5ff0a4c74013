"""Consumer tiers (`maas:tiers`): whose requests a saturated pool serves first.

A tier is a name and a priority. Each pool's endpoint picker learns a request's priority from the
InferenceObjective the gateway names for the caller's tier; a caller without a tier gets the
picker's default, priority 0 (llm-d-router v0.10.0 `pkg/epp/requestcontrol/director.go`).
"""

from __future__ import annotations

from typing import Annotated, Sequence

from pydantic import AfterValidator, Field

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


