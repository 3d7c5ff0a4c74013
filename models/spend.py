"""Money: prices per model (`models[].price`), teams with daily spend budgets (`maas:teams`), and
the units the budget service counts them in.

agentgateway v1.4.1 prices each call from a model cost catalog (`crates/agentgateway/src/llm/cost/
catalog.rs`): rates per million tokens as decimal strings of at most six fractional digits,
never negative. The budget service (envoyproxy/ratelimit) counts whole units in a uint32, so
money is counted in SPEND_UNITS_PER_CURRENCY-ths of the currency, and a budget can hold at most
MAX_SPEND_PER_WINDOW. Its `day` window is a UTC calendar day (`src/utils/utilities.go`
UnitToDivider at 1e50889b); its `month` is a 30-day block counted from 1970, not a calendar month,
so no monthly budget is offered.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Optional, Sequence

from pydantic import Field

from .consumers import MAX_BUDGET, Consumer
from .types import DNS1123Label, StrictModel

SPEND_UNITS_PER_CURRENCY = 10_000
MAX_SPEND_PER_WINDOW = Decimal(MAX_BUDGET) / SPEND_UNITS_PER_CURRENCY
# A rate the catalog can hold: non-negative, at most six fractional digits (catalog.rs Money).
Rate = Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=6)]
Spend = Annotated[Decimal, Field(gt=0, le=MAX_SPEND_PER_WINDOW, decimal_places=4)]


class Price(StrictModel):
    """What one million tokens of this model cost, in `maas:currency`."""

    input_per_million: Rate = Field(description="Price of a million input (prompt) tokens.")
    output_per_million: Rate = Field(description="Price of a million output tokens.")
    cached_input_per_million: Optional[Rate] = Field(
        None, description="Price of a million input tokens served from the prefix cache; unset: the input price."
    )


class Team(StrictModel):
    """Consumers whose spend is counted, and capped, together."""

    name: DNS1123Label = Field(description="Team name consumers refer to with `team`.")
    spend_per_day: Optional[Spend] = Field(
        None,
        description="Most the team's consumers may spend together in a UTC day, in maas:currency; unset: "
        "counted, never refused.",
    )


def idle_teams(teams: Sequence[Team], consumers: Sequence[Consumer]) -> list[str]:
    """Teams no consumer belongs to: legal, but their budget can never be spent."""
    members = {consumer.team for consumer in consumers}
    return [team.name for team in teams if team.name not in members]


def spend_units(amount: Decimal) -> int:
    return int(amount * SPEND_UNITS_PER_CURRENCY)


def budgets_enforced(consumers: Sequence[Consumer], teams: Sequence[Team]) -> bool:
    """Whether any budget needs the budget service: a consumer's own, or its team's."""
    capped = {team.name for team in teams if team.spend_per_day is not None}
    return any(consumer.has_budget or consumer.team in capped for consumer in consumers)
