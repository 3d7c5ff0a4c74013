"""agentgateway v1.4.1's model cost catalog, read as its data plane reads it and used to price a
call as it prices one. Written from `crates/agentgateway/src/llm/cost/catalog.rs` and `mod.rs`,
independently of components/spend.py, so a catalog agentgateway would refuse or misread fails
the tests:

- `{"providers": {<provider>: {"models": {<model>: {"rates": {...}, "tiers": [...]}}}}}`; both maps
  default to empty. Every level denies unknown fields (`deny_unknown_fields`, and `schema!`'s
  camelCase with deny_unknown_fields for Model, Rates, Tier), and one bad field refuses the file.
- A rate (`Money`) is a decimal string, never a JSON number, never negative, and has at most six
  fractional digits. Rates: input, output, cacheRead, cacheWrite, reasoning, inputAudio,
  outputAudio, all optional, in currency per million tokens (TOKENS_PER_UNIT = 1_000_000).
- Tiers: `{contextOver, rates}` with strictly increasing thresholds; the highest tier whose
  threshold the context (input + cached tokens) exceeds replaces the rates.
- Lookup is exact: provider, then model, the response model first and the request model when the
  response model is missing. An entry without a rate that applies is unpriced: no cost at all.
- OpenAI-shaped usage counts cached tokens inside the input tokens (`InputIncludesCache`): with a
  `cacheRead` rate they leave the input and cost that rate; without one they stay in the input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Optional

RATE_FIELDS = ("input", "output", "cacheRead", "cacheWrite", "reasoning", "inputAudio", "outputAudio")
TOKENS_PER_UNIT = Decimal(1_000_000)
_MONEY = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class CatalogError(ValueError):
    """agentgateway refuses the file (and keeps the last valid catalog, or none)."""


def _only(obj: Any, allowed: tuple[str, ...], where: str) -> dict:
    if not isinstance(obj, dict):
        raise CatalogError(f"{where}: expected an object")
    unknown = set(obj) - set(allowed)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {sorted(unknown)}")
    return obj


def _money(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise CatalogError(f"{where}: a price is a decimal string, not {type(value).__name__}")
    if not _MONEY.match(value):
        raise CatalogError(f"{where}: {value!r} is not a non-negative decimal")
    if "." in value and len(value.split(".")[1]) > 6:
        raise CatalogError(f"{where}: {value!r} has more than 6 fractional digits")
    return Decimal(value)


def _rates(obj: Any, where: str) -> dict[str, Decimal]:
    return {name: _money(value, f"{where}.{name}") for name, value in _only(obj, RATE_FIELDS, where).items()}


@dataclass
class PricedModel:
    rates: dict[str, Decimal]
    tiers: list[tuple[int, dict[str, Decimal]]]


def read_catalog(text: str) -> dict[tuple[str, str], PricedModel]:
    """(provider, model) -> its prices; CatalogError where agentgateway refuses the file."""
    root = _only(json.loads(text), ("providers",), "catalog")
    catalog = {}
    for provider, body in (root.get("providers") or {}).items():
        for model, entry in (_only(body, ("models",), provider).get("models") or {}).items():
            where = f"{provider}.{model}"
            entry = _only(entry, ("rates", "tiers"), where)
            tiers = []
            for index, tier in enumerate(entry.get("tiers") or []):
                tier = _only(tier, ("contextOver", "rates"), f"{where}.tiers[{index}]")
                tiers.append((int(tier["contextOver"]), _rates(tier.get("rates", {}), f"{where}.tiers[{index}].rates")))
            if [t for t, _ in tiers] != sorted({t for t, _ in tiers}):
                raise CatalogError(f"{where}: tier thresholds must strictly increase")
            catalog[(provider, model)] = PricedModel(_rates(entry.get("rates", {}), f"{where}.rates"), tiers)
    return catalog


def call_cost(
    catalog: dict[tuple[str, str], PricedModel],
    provider: str,
    response_model: str,
    request_model: str,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
) -> Optional[Decimal]:
    """What the call costs, or None when it cannot be priced (missing or unpriced model)."""
    entry = catalog.get((provider, response_model)) or catalog.get((provider, request_model))
    if entry is None:
        return None
    rates = entry.rates
    for threshold, tier_rates in entry.tiers:
        if input_tokens > threshold:
            rates = tier_rates
    if "input" not in rates and "output" not in rates and "cacheRead" not in rates:
        return None
    billed_input, cached = input_tokens, 0
    if "cacheRead" in rates:
        billed_input, cached = input_tokens - cached_tokens, cached_tokens
    lines = [(billed_input, rates.get("input")), (cached, rates.get("cacheRead")), (output_tokens, rates.get("output"))]
    return sum((Decimal(tokens) * rate / TOKENS_PER_UNIT for tokens, rate in lines if rate is not None), Decimal(0))
