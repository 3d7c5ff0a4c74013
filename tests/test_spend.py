"""Spend: calls priced from the gateway's model cost catalog, charged to the caller's team, and a
team refused for the rest of its UTC day once its budget is spent; followed through the gateway
simulator, which reads the catalog as agentgateway does (cost_catalog.py), and the budget service
simulator, which loads the configuration as envoyproxy/ratelimit does."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
import yaml

from catalogs import catalog_config, simulator_catalog
from cost_catalog import CatalogError, read_catalog
from gateway_sim import GatewaySimulator, RateLimitSimulator
from harness import run_program, stack_config
from llm_maas.models import load_config

GATEWAY = ("inference-gateway", "agentgateway-system")
# $1 per thousand tokens, in and out, so the arithmetic reads at a glance; cached input at a tenth.
PRICE = {"inputPerMillion": 1000, "outputPerMillion": 1000, "cachedInputPerMillion": 100}
TEAMS = [{"name": "search", "spendPerDay": 1}, {"name": "support", "spendPerDay": 1}]
CONSUMERS = [
    {"name": "search-a", "team": "search"},
    {"name": "search-b", "team": "search"},
    {"name": "support-a", "team": "support"},
    {"name": "solo"},
]


def spend_stack(models=None, teams=TEAMS, consumers=CONSUMERS) -> dict[str, str]:
    models = models or [
        {"name": "org/priced", "server": "simulator", "adapters": ["priced-lora"], "price": PRICE},
        {"name": "org/free", "server": "simulator"},
    ]
    return {
        **catalog_config(models),
        "maas:teams": json.dumps(teams),
        "maas:consumers": json.dumps(consumers),
    }


@pytest.fixture(scope="module")
def spend_run():
    return run_program(spend_stack())


def _call(gateway, run, consumer, model, **usage):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    return gateway.request(body, {"Authorization": f"Bearer {run.outputs['apiKeys'][consumer]}"}, **usage)


def _gateway(run):
    return GatewaySimulator(run.objects(), *GATEWAY, rate_limiter=RateLimitSimulator(run.objects()))


def test_a_spent_team_is_refused_and_the_other_team_is_not(spend_run):
    gateway = _gateway(spend_run)
    # 600 in + 500 out at $1 per thousand: $1.10, over search's $1 a day. The call that crosses
    # the line completes (its cost is known only after the response).
    crossing = _call(gateway, spend_run, "search-a", "org/priced", prompt_tokens=600, completion_tokens=500)
    assert crossing.status == 200 and crossing.cost == Decimal("1.1")
    assert _call(gateway, spend_run, "search-a", "org/priced", completion_tokens=1).status == 429
    assert _call(gateway, spend_run, "search-b", "priced-lora", completion_tokens=1).status == 429  # the same team
    assert _call(gateway, spend_run, "search-b", "org/free").status == 429  # the team is out, whatever the model
    assert _call(gateway, spend_run, "support-a", "org/priced", completion_tokens=1).status == 200
    assert _call(gateway, spend_run, "solo", "org/priced", prompt_tokens=10_000).status == 200  # no team, no cap


def test_spend_below_the_budget_is_served_and_counted_to_the_unit(spend_run):
    gateway = _gateway(spend_run)
    for _ in range(9):  # 9 x $0.1 = $0.90
        assert _call(gateway, spend_run, "search-a", "org/priced", prompt_tokens=50, completion_tokens=50).status == 200
    (counter,) = [count for key, count in gateway.rate_limiter.counters.items() if key[1] == "team_spend"]
    assert counter == 9_000  # ten-thousandths of the currency
    assert _call(gateway, spend_run, "search-b", "org/priced", completion_tokens=100).status == 200  # exactly $1.00
    assert _call(gateway, spend_run, "search-b", "org/priced", completion_tokens=1).status == 200  # at the line, not over
    assert _call(gateway, spend_run, "search-a", "org/priced", completion_tokens=1).status == 429


def test_an_unpriced_model_is_free(spend_run):
    gateway = _gateway(spend_run)
    for _ in range(3):  # two million tokens a call, many times over the team's dollar if priced
        free = _call(gateway, spend_run, "search-a", "org/free", prompt_tokens=1_000_000, completion_tokens=1_000_000)
        assert free.status == 200 and free.cost is None
    assert not [count for key, count in gateway.rate_limiter.counters.items() if key[1] == "team_spend" and count]
    assert _call(gateway, spend_run, "search-a", "org/priced", completion_tokens=1).status == 200


def test_cached_input_costs_its_own_rate(spend_run):
    gateway = _gateway(spend_run)
    # 1,000 input tokens of which 800 from the prefix cache: 200 x $1/k + 800 x $0.1/k = $0.28.
    cached = _call(gateway, spend_run, "search-a", "org/priced", prompt_tokens=1000, cached_tokens=800)
    assert cached.cost == Decimal("0.28")


def test_the_smallest_priced_call_is_charged_a_unit(spend_run):
    gateway = _gateway(spend_run)
    tiny = _call(gateway, spend_run, "search-a", "org/priced", completion_tokens=1)  # $0.001
    assert tiny.cost == Decimal("0.001")
    (counter,) = [count for key, count in gateway.rate_limiter.counters.items() if key[1] == "team_spend"]
    assert counter == 10  # rounded up, never down to nothing


def test_the_catalog_is_what_agentgateway_reads(spend_run):
    (catalog_map,) = [c for c in spend_run.objects("ConfigMap") if c["metadata"]["name"] == "inference-gateway-prices"]
    catalog = read_catalog(catalog_map["data"]["catalog.json"])
    assert set(catalog) == {("custom", "org/priced"), ("custom", "priced-lora")}  # adapters at their model's rates
    assert catalog[("custom", "priced-lora")].rates == {"input": Decimal(1000), "output": Decimal(1000), "cacheRead": Decimal(100)}
    (parameters,) = spend_run.objects("AgentgatewayParameters")
    assert parameters["spec"]["modelCatalog"] == {
        "sources": [{"configMap": {"name": "inference-gateway-prices", "key": "catalog.json"}}]
    }


@pytest.mark.parametrize(
    "document, problem",
    [
        ('{"providers": {"custom": {"models": {"m": {"rates": {"input": 0.5}}}}}}', "decimal string"),
        ('{"providers": {"custom": {"models": {"m": {"rates": {"input": "0.1234567"}}}}}}', "6 fractional digits"),
        ('{"providers": {"custom": {"models": {"m": {"rates": {"input": "-1"}}}}}}', "non-negative"),
        ('{"providers": {"custom": {"models": {"m": {"rates": {"inputCacheRead": "1"}}}}}}', "unknown field"),
        ('{"providers": {}, "currency": "USD"}', "unknown field"),
    ],
    ids=["number", "seven-digits", "negative", "unknown-rate", "unknown-top-level"],
)
def test_the_reader_refuses_what_agentgateway_refuses(document, problem):
    with pytest.raises(CatalogError, match=problem):
        read_catalog(document)


def test_fractional_prices_reach_the_catalog_exactly():
    run = run_program(spend_stack(models=[
        {"name": "org/m", "server": "simulator", "price": {"inputPerMillion": 0.15, "outputPerMillion": 0.000001}}
    ]))  # fmt: skip
    (catalog_map,) = [c for c in run.objects("ConfigMap") if c["metadata"]["name"] == "inference-gateway-prices"]
    assert read_catalog(catalog_map["data"]["catalog.json"])[("custom", "org/m")].rates == {
        "input": Decimal("0.15"), "output": Decimal("0.000001")
    }


def test_prices_and_team_budgets_are_outputs(spend_run):
    assert spend_run.outputs["prices"] == {
        name: {"inputPerMillion": "1000", "outputPerMillion": "1000", "cachedInputPerMillion": "100", "currency": "USD"}
        for name in ("org/priced", "priced-lora")
    }
    budgets = yaml.safe_load(spend_run.outputs["rateLimitConfig"])["descriptors"]
    assert {(d["key"], d["value"], d["rate_limit"]["unit"], d["rate_limit"]["requests_per_unit"]) for d in budgets} == {
        ("team_spend", "search", "day", 10_000), ("team_spend", "support", "day", 10_000)
    }


def test_an_external_budget_service_gets_the_team_budgets():
    config = {**spend_stack(), "maas:rateLimit": json.dumps({"install": False, "service": {"name": "ratelimit", "namespace": "infra"}})}
    run = run_program(config)
    assert not [d for d in run.objects("Deployment") if d["metadata"]["name"].endswith("-ratelimit")]
    assert "team_spend" in run.outputs["rateLimitConfig"]


def test_a_team_budget_alone_brings_the_budget_service():
    run = run_program(spend_stack(consumers=[{"name": "a", "team": "search"}]))
    assert [d for d in run.objects("Deployment") if d["metadata"]["name"] == "inference-gateway-ratelimit"]


def test_a_team_without_consumers_is_warned_about(caplog):
    caplog.set_level(logging.WARNING)
    run_program(spend_stack(teams=[*TEAMS, {"name": "idle", "spendPerDay": 5}]))
    assert any("'idle' has no consumer" in record.getMessage() for record in caplog.records)


def test_adding_a_priced_model_edits_only_the_list_and_the_catalog():
    consumers = [{"name": "a", "tokensPerMinute": 10, "team": "t"}]
    config = {**catalog_config(simulator_catalog(3, 1)), "maas:consumers": json.dumps(consumers),
              "maas:teams": json.dumps([{"name": "t", "spendPerDay": 10}])}  # fmt: skip
    before = run_program(config).by_identity()
    grown = simulator_catalog(4, 1)
    grown[-1]["price"] = {"inputPerMillion": 0.5, "outputPerMillion": 2}
    config["maas:models"] = json.dumps(grown)
    after = run_program(config).by_identity()
    assert sorted(key for key in before if before[key] != after[key]) == [
        ("v1", "ConfigMap", "agentgateway-system", "inference-gateway-models"),
        ("v1", "ConfigMap", "agentgateway-system", "inference-gateway-prices"),
    ]


def test_the_dev_stack_prices_its_models_for_its_team():
    config = load_config(stack_config("dev"))
    assert all(model.price is not None for model in config.models)
    assert any(consumer.team for consumer in config.consumers) and all(team.spend_per_day for team in config.teams)


def test_vllm_reports_cached_tokens_when_they_have_a_price():
    def vllm_args(price):
        models = [{"name": "org/m", "source": "org/m", **({"price": price} if price else {})}]
        run = run_program(spend_stack(models=models))
        (server,) = [d for d in run.objects("Deployment") if d["metadata"]["name"] == "m-server"]
        return server["spec"]["template"]["spec"]["containers"][0]["args"]

    assert "--enable-prompt-tokens-details" in vllm_args(PRICE)
    assert "--enable-prompt-tokens-details" not in vllm_args({"inputPerMillion": 1, "outputPerMillion": 1})
    assert "--enable-prompt-tokens-details" not in vllm_args(None)
