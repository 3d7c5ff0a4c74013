"""Spend: the gateway prices every model call, and teams' daily budgets are charged in money.

What agentgateway v1.4.1 does, which decides this design:
- A Gateway-level AgentgatewayParameters' `modelCatalog.sources[].configMap` (in the Gateway's
  namespace, key `catalog.json` by default) is mounted into the data plane and hot-reloaded
  (controller/pkg/deployer/agentgateway_parameters.go; the chart's `_helpers.tpl`). The volume is
  not optional, so the ConfigMap always exists, empty of prices if need be.
- The catalog (`crates/agentgateway/src/llm/cost/catalog.rs`) is `{"providers": {<provider>:
  {"models": {<model>: {"rates": {...}}}}}}`; rates are decimal strings per million tokens;
  unknown fields make it refuse the whole file. A custom AI backend, as every pool's is, prices
  under the provider `custom` (crates/llm/src/custom.rs). The response model is looked up first,
  then the request model, exactly as written: every served name (adapters too) gets its model's rates.
- Cached input tokens are part of the input count for OpenAI-shaped calls; with a `cacheRead`
  rate they are billed at it, without one at the input rate (llm/cost/mod.rs `usage_for`).
- A Tokens descriptor with a `cost` expression is checked before the call (adding nothing) and
  charged after the response with the expression's value, which must be a whole number
  (http/remoteratelimit.rs). `llm.cost.total` is a double, so the charge is rounded up to the
  budget service's units: no priced call is free. An unpriced model has no `llm.cost`: the
  expression fails, the descriptor is skipped, and the call costs nothing.
- `agentgateway_gen_ai_client_cost_usd_total` counts each priced call's cost, labelled by model
  and by the `frontend.metrics` attributes (telemetry/metrics.rs, log.rs add_llm_metrics).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import Model, Team
from llm_maas.models.names import MODEL_PRICES, gateway_object
from llm_maas.models.spend import SPEND_UNITS_PER_CURRENCY, spend_units

from ..kube import child, labels, meta

CATALOG_PROVIDER = "custom"
CATALOG_KEY = "catalog.json"
TEAM_FIELD = "team"
TEAM_EXPRESSION = f"apiKey.{TEAM_FIELD}"
SPEND_DESCRIPTOR_KEY = "team_spend"
# The call's cost in the budget service's units, rounded up (celx math.ceil; int() truncates).
COST_EXPRESSION = f"int(math.ceil(llm.cost.total * {SPEND_UNITS_PER_CURRENCY}.0))"
# A UTC calendar day (envoyproxy/ratelimit UnitToDivider).
SPEND_WINDOW = "day"


def _amount(value: Decimal) -> str:
    """A decimal string the catalog reads: no exponent, no trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def rates(model: Model) -> dict[str, str]:
    price = model.price
    assert price is not None
    found = {"input": price.input_per_million, "output": price.output_per_million, "cacheRead": price.cached_input_per_million}
    return {field: _amount(value) for field, value in found.items() if value is not None}


def price_catalog(models: Sequence[Model]) -> str:
    """agentgateway's model cost catalog: every served name of every priced model."""
    priced = {name: {"rates": rates(model)} for model in models if model.price is not None for name in model.served_names}
    providers = {CATALOG_PROVIDER: {"models": priced}} if priced else {}
    return json.dumps({"providers": providers}, sort_keys=True, separators=(",", ":"))


def model_catalog_source(gateway: str) -> dict:
    """The AgentgatewayParameters `modelCatalog` naming the price catalog ConfigMap."""
    return {"sources": [{"configMap": {"name": gateway_object(gateway, MODEL_PRICES), "key": CATALOG_KEY}}]}


def price_catalog_config_map(
    parent: pulumi.Resource, resource_name: str, gateway: str, namespace: str, catalog: str, depends_on: Sequence[pulumi.Resource]
) -> k8s.core.v1.ConfigMap:
    """The catalog the Gateway's data plane mounts; editing it reprices calls without a restart."""
    object_name = gateway_object(gateway, MODEL_PRICES)
    return k8s.core.v1.ConfigMap(
        resource_name,
        metadata=meta(object_name, namespace, labels("prices", object_name)),
        data={CATALOG_KEY: catalog},
        opts=child(parent, depends_on=list(depends_on)),
    )


def usage_details_args(model: Model) -> list[str]:
    """vLLM reports a call's cached prompt tokens (`usage.prompt_tokens_details.cached_tokens`) only
    with this flag; a price for cached input needs them, or every input token costs the input rate."""
    return ["--enable-prompt-tokens-details"] if model.price is not None and model.price.cached_input_per_million is not None else []


def spend_descriptor() -> dict:
    """The budgets policy's descriptor charging each call's cost to the caller's team (a caller
    without a team has no `apiKey.team`: the entry fails and the descriptor is not sent)."""
    return {"entries": [{"name": SPEND_DESCRIPTOR_KEY, "expression": TEAM_EXPRESSION}], "unit": "Tokens", "cost": COST_EXPRESSION}


def team_budgets(teams: Sequence[Team]) -> list[dict]:
    """The budget service's descriptors: each capped team's spend per UTC day, in its units."""
    return [
        {"key": SPEND_DESCRIPTOR_KEY, "value": team.name,
         "rate_limit": {"unit": SPEND_WINDOW, "requests_per_unit": spend_units(team.spend_per_day)}}
        for team in teams
        if team.spend_per_day is not None
    ]  # fmt: skip


def prices(models: Sequence[Model], currency: str) -> dict[str, dict[str, str]]:
    """The `prices` output: each priced served name's price, as the config writes it."""
    return {
        name: {**{key: _amount(value) for key, value in model.price.model_dump(by_alias=True, exclude_none=True).items()},
               "currency": currency}
        for model in models
        if model.price is not None
        for name in model.served_names
    }  # fmt: skip
