"""1,000 client-facing names, a model with more names than one HTTPRoute may hold, and the blast
radius of adding or removing one model."""

import json

import pytest

import schema_check
from catalogs import catalog_config, simulator_catalog
from gateway_sim import GatewaySimulator
from harness import run_program
from llm_maas.models import Versions

CEL_EXPRESSION_LIMIT = 16_384  # agentgateway's cap on one expression


@pytest.fixture(scope="module")
def thousand_names():
    """50 models x (1 + 19 adapters) = 1,000 names."""
    models = simulator_catalog(50, 19)
    return models, run_program(catalog_config(models))


def test_a_thousand_names_route_to_the_pods_that_serve_them(thousand_names):
    models, run = thousand_names
    assert sum(1 + len(m["adapters"]) for m in models) == 1000
    gateway = GatewaySimulator(run.objects(), "inference-gateway", "agentgateway-system")
    served = {pool: set(names) for pool, names in run.outputs["pools"].items()}
    for pool, names in served.items():
        for name in names:
            outcome = gateway.request(json.dumps({"model": name}).encode())
            assert outcome.pool_name == pool, name
            assert all(name in pods.served_names for pods in outcome.pods) and outcome.pods
    assert gateway.request(json.dumps({"model": "model-50-adapter-0"}).encode()).status == 404


def test_policy_expressions_stay_under_the_cel_limit_at_any_size(thousand_names):
    _, run = thousand_names
    expressions = [
        entry["value"]
        for policy in run.objects("AgentgatewayPolicy")
        for entry in policy["spec"].get("traffic", {}).get("transformation", {}).get("request", {}).get("set", [])
    ]
    assert expressions and max(map(len, expressions)) < CEL_EXPRESSION_LIMIT
    small = run_program(catalog_config(simulator_catalog(1, 0)))

    def gateway_policies(r):
        return sorted(
            (p for p in r.objects("AgentgatewayPolicy") if p["spec"]["targetRefs"][0]["kind"] == "Gateway"),
            key=lambda p: p["metadata"]["name"],
        )

    assert gateway_policies(small) == gateway_policies(run)  # the shared policies do not grow with the catalog


@schema_check.needs_crds
def test_a_thousand_names_pass_the_api_schemas(thousand_names):
    _, run = thousand_names
    crds = schema_check.catalog(schema_check.crds_dir(), schema_check.crd_pins(Versions()))
    problems = schema_check.validate_all(run.objects(), crds)
    assert problems == {}


@pytest.fixture(scope="module")
def three_hundred_names():
    models = simulator_catalog(1, 299)  # 300 names: routes of 128 + 128 + 44
    return models, run_program(catalog_config(models))


def _model_routes(run):
    routes = sorted(run.objects("HTTPRoute"), key=lambda r: r["metadata"]["name"])
    return [r for r in routes if r["metadata"]["namespace"] == "llm-d"]


def test_a_model_with_more_names_than_a_route_holds_gets_more_routes(three_hundred_names):
    models, run = three_hundred_names
    model_routes = _model_routes(run)
    assert [r["metadata"]["name"] for r in model_routes] == ["model-0-7b", "model-0-7b-2", "model-0-7b-3"]
    for route in model_routes:
        matches = [len(rule["matches"]) for rule in route["spec"]["rules"]]
        assert max(matches) <= 64 and sum(matches) <= 128
    gateway = GatewaySimulator(run.objects(), "inference-gateway", "agentgateway-system")
    for name in [models[0]["name"]] + models[0]["adapters"]:
        assert gateway.request(json.dumps({"model": name}).encode()).pool_name == "model-0-7b"


@schema_check.needs_crds
def test_split_routes_pass_the_httproute_schema_and_its_match_cap(three_hundred_names):
    _, run = three_hundred_names
    crds = schema_check.catalog(schema_check.crds_dir(), schema_check.crd_pins(Versions()))
    assert schema_check.validate_all(_model_routes(run), crds) == {}


MODEL_LIST = ("v1", "ConfigMap", "agentgateway-system", "inference-gateway-models")


def test_adding_a_model_changes_no_existing_object():
    twenty = simulator_catalog(20, 2)
    before = run_program(catalog_config(twenty)).by_identity()
    after = run_program(catalog_config(twenty + simulator_catalog(21, 2)[20:])).by_identity()
    changed = [key for key in before if before[key] != after.get(key)]
    # No routing policy changes; the one shared object a model edits is the /v1/models list.
    assert changed == [MODEL_LIST]
    added = set(after) - set(before)
    assert {key[1] for key in added if len(key) == 4} == {
        "InferencePool", "AgentgatewayBackend", "HTTPRoute", "AgentgatewayPolicy", "Deployment", "Service",
        "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "NetworkPolicy",
    }
    assert all("model-20" in key[-1] for key in added)


def test_monitoring_and_autoscaling_stay_constant_as_models_are_added():
    """Three PodMonitors and the dashboards serve any catalog; a model adds only its ScaledObject."""
    scaled = [{**model, "autoscaling": {"maxReplicas": 3}} for model in simulator_catalog(21, 2)]
    monitored = {"maas:monitoring": json.dumps({"enabled": True}),
                 "maas:autoscaling": json.dumps({"prometheusUrl": "http://prometheus.monitoring:9090"})}  # fmt: skip
    before = run_program({**catalog_config(scaled[:20]), **monitored}).by_identity()
    after = run_program({**catalog_config(scaled), **monitored}).by_identity()
    assert [key for key in before if before[key] != after.get(key)] == [MODEL_LIST]
    assert sum(1 for key in after if key[1] == "PodMonitor") == 3
    added = {key for key in set(after) - set(before) if key[1] == "ScaledObject"}
    assert len(added) == 1 and all("model-20" in key[-1] for key in added)


def test_removing_a_model_deletes_exactly_its_objects():
    twenty = simulator_catalog(20, 2)
    before = run_program(catalog_config(twenty)).by_identity()
    after = run_program(catalog_config(twenty[:7] + twenty[8:])).by_identity()
    removed = set(before) - set(after)
    assert removed and all("model-7" in key[-1] for key in removed)
    assert [key for key in after if before[key] != after[key]] == [MODEL_LIST]
    assert "org-7/model-7-7B" not in after[MODEL_LIST]["data"]["models.json"]
