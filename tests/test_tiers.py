"""Consumer tiers and the llm-d router's flow control, followed from a client's request through the
gateway simulator to the headers each pool's endpoint picker receives, what it makes of them
(flow_control_sim), and the order it releases held requests in under saturation."""

import json

import pytest

from catalogs import catalog_config, simulator_catalog
from flow_control_sim import EndpointPicker, FlowController
from gateway_sim import GatewaySimulator, RateLimitSimulator
from harness import run_program, run_stack, stack_config
from llm_maas.models import load_config

GATEWAY = ("inference-gateway", "agentgateway-system")
PICKER_HEADERS = (
    "x-llm-d-inference-objective",
    "x-llm-d-inference-fairness-id",
    "x-gateway-inference-objective",
    "x-gateway-inference-fairness-id",
)
# What the seed stack files say (Pulumi.dev.yaml, Pulumi.prod.yaml): a consumer's tier priority.
SEED_PRIORITIES = {
    "dev": {"search-team": 10, "playground": -10},
    "prod": {"support-bot": 10, "data-science": 0},
}


def _chat(model):
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()


def _bearer(key):
    return {"Authorization": f"Bearer {key}"}


def _picker(run, outcome):
    return EndpointPicker(run.objects(), outcome.epp_deployment)


def _picker_headers(outcome):
    return {name: outcome.upstream_headers[name] for name in PICKER_HEADERS if name in outcome.upstream_headers}


def test_each_request_reaches_its_pools_picker_with_the_callers_tier_and_name(stack):
    """Every consumer, every name it may call: the picker of the pool the request reaches finds an
    objective of that pool with the consumer's tier priority (none for an untiered consumer), and
    the consumer's name as the fairness ID."""
    name, run = stack
    config = load_config(stack_config(name))
    gateway = GatewaySimulator(run.objects(), *GATEWAY)
    checked = 0
    for consumer in config.consumers:
        for served in consumer.models or config.served_names:
            outcome = gateway.request(_chat(served), _bearer(run.outputs["apiKeys"][consumer.name]))
            assert outcome.status == 200, (consumer.name, served)
            admission = _picker(run, outcome).admit(outcome.upstream_headers)
            assert admission.priority == SEED_PRIORITIES[name][consumer.name], (consumer.name, served)
            assert admission.fairness_id == consumer.name
            headers = _picker_headers(outcome)
            if consumer.tier is None:
                assert admission.objective is None and set(headers) == {"x-llm-d-inference-fairness-id"}
            else:
                assert admission.objective == headers["x-llm-d-inference-objective"]
                assert admission.objective.startswith(outcome.pool_name + ".")
            checked += 1
    assert checked >= len(config.served_names)


def test_the_dev_stacks_consumers_are_in_different_tiers(stack_runs):
    run = stack_runs["dev"]
    gateway = GatewaySimulator(run.objects(), *GATEWAY)
    seen = {}
    for consumer in ("search-team", "playground"):
        outcome = gateway.request(_chat("Qwen/Qwen3-32B"), _bearer(run.outputs["apiKeys"][consumer]))
        seen[consumer] = _picker_headers(outcome)["x-llm-d-inference-objective"]
    assert seen == {"search-team": "qwen3-32b.interactive", "playground": "qwen3-32b.batch"}


SPOOFS = [
    {"x-llm-d-inference-objective": "qwen3-32b.interactive"},
    {"x-llm-d-inference-fairness-id": "search-team"},
    {"X-Gateway-Inference-Objective": "qwen3-32b.interactive"},
    {"X-Gateway-Inference-Fairness-Id": "search-team"},
    {name: "qwen3-32b.interactive" for name in PICKER_HEADERS},
]


@pytest.mark.parametrize("spoof", SPOOFS, ids=["objective", "fairness", "old-objective", "old-fairness", "all"])
def test_a_client_never_chooses_its_own_priority_or_identity(stack_runs, spoof):
    """A batch consumer claiming the interactive objective or another consumer's name: the picker
    sees what the gateway set from its key, never the client's value, whatever the header name."""
    run = stack_runs["dev"]
    outcome = GatewaySimulator(run.objects(), *GATEWAY).request(
        _chat("Qwen/Qwen3-32B"), {**_bearer(run.outputs["apiKeys"]["playground"]), **spoof}
    )
    assert outcome.status == 200
    assert _picker_headers(outcome) == {
        "x-llm-d-inference-objective": "qwen3-32b.batch",
        "x-llm-d-inference-fairness-id": "playground",
    }
    assert _picker(run, outcome).admit(outcome.upstream_headers).priority == -10


@pytest.mark.parametrize("spoof", SPOOFS, ids=["objective", "fairness", "old-objective", "old-fairness", "all"])
def test_without_tiers_or_keys_spoofed_headers_still_never_arrive(spoof):
    """An open gateway with no tiers: nothing names an objective or a fairness ID, so every
    request is the picker's default, whatever the client sends; even an objective someone created
    by hand for the pool cannot be reached from outside."""
    run = run_stack("dev", overrides={"maas:consumers": [], "maas:tiers": []})
    assert run.objects("InferenceObjective") == []
    objects = run.objects() + [
        {"apiVersion": "llm-d.ai/v1alpha2", "kind": "InferenceObjective",
         "metadata": {"name": "qwen3-32b.interactive", "namespace": "llm-d"},
         "spec": {"poolRef": {"name": "qwen3-32b"}, "priority": 100}},
    ]  # fmt: skip
    outcome = GatewaySimulator(objects, *GATEWAY).request(_chat("Qwen/Qwen3-32B"), spoof)
    assert outcome.status == 200 and _picker_headers(outcome) == {}
    admission = EndpointPicker(objects, outcome.epp_deployment).admit(outcome.upstream_headers)
    assert (admission.priority, admission.fairness_id) == (0, "default-flow")


def test_each_pickers_priority_bands_are_the_tiers_and_untiered_callers(stack):
    """One band per tier priority and one for callers without a tier (0), each sharing its band
    between consumers round-robin; every plugin the config refers to is declared (the picker
    refuses to start otherwise)."""
    name, run = stack
    pickers = [EndpointPicker(run.objects(), d) for d in run.objects("Deployment") if d["metadata"]["name"].endswith("-epp")]
    assert len(pickers) == len(load_config(stack_config(name)).models)
    expected = {"dev": [10, 0, -10], "prod": [10, 0]}[name]
    for picker in pickers:
        config = picker.config
        assert config["apiVersion"] == "llm-d.ai/v1alpha1" and config["kind"] == "EndpointPickerConfig"
        assert picker.flow_control
        bands = config["flowControl"]["priorityBands"]
        assert [band["priority"] for band in bands] == expected
        declared = {plugin.get("name", plugin["type"]) for plugin in config["plugins"]}
        references = {band["fairnessPolicyRef"] for band in bands + [config["flowControl"]["defaultPriorityBand"]]}
        references |= {p["pluginRef"] for profile in config["schedulingProfiles"] for p in profile["plugins"]}
        references |= {p["pluginRef"] for p in config["requestHandler"]["parsers"]}
        for source in config["dataLayer"]["sources"]:
            references |= {source["pluginRef"], *(e["pluginRef"] for e in source["extractors"])}
        assert references <= declared
        assert references >= {"round-robin-fairness-policy", "queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer"}
        # Every tier's objective for this pool is one the picker keeps, at the tier's priority.
        assert sorted(picker.objectives.values(), reverse=True) == [p for p in expected if p != 0]


def _saturated_run():
    """Two batch consumers and one interactive one on a single pool."""
    consumers = [{"name": "nightly-a", "tier": "batch"}, {"name": "nightly-b", "tier": "batch"},
                 {"name": "assistant", "tier": "interactive"}]  # fmt: skip
    return run_stack("dev", overrides={"maas:consumers": consumers})


def test_under_saturation_higher_tiers_go_first_and_a_tier_is_shared_fairly():
    run = _saturated_run()
    gateway = GatewaySimulator(run.objects(), *GATEWAY)
    keys = run.outputs["apiKeys"]
    arrivals = [("nightly-a", i) for i in range(5)] + [("nightly-b", i) for i in range(2)] + [("assistant", 0)]
    admitted = []
    for consumer, index in arrivals:
        outcome = gateway.request(_chat("deepseek/DeepSeek-r1"), _bearer(keys[consumer]))
        picker = _picker(run, outcome)
        admitted.append((f"{consumer}-{index}", picker.admit(outcome.upstream_headers)))
    configured, upstream_default = picker.controller(), FlowController({})
    for controller in (configured, upstream_default):
        for request, admission in admitted:
            controller.enqueue(request, admission)
    # The pool is saturated: nothing leaves until it has room, then one request per free slot.
    assert configured.dispatch(0) == [] and configured.held == 8
    order = [request for _ in range(8) for request in configured.dispatch(1)]
    assert order == ["assistant-0", "nightly-a-0", "nightly-b-0", "nightly-a-1", "nightly-b-1",
                     "nightly-a-2", "nightly-a-3", "nightly-a-4"]  # fmt: skip
    # Upstream's default fairness (global strict) would have served nightly-a's whole flood
    # before nightly-b's first request.
    assert upstream_default.dispatch(8) == ["assistant-0", *(f"nightly-a-{i}" for i in range(5)), "nightly-b-0", "nightly-b-1"]


def test_a_tier_reserves_nothing_and_budgets_still_apply(stack_runs):
    """A tier orders waiting requests and nothing else: the same servers, GPUs and budgets as
    without tiers, and an interactive consumer still meets its request budget."""
    tiered = stack_runs["dev"]
    untiered_consumers = [{k: v for k, v in c.items() if k != "tier"} for c in json.loads(stack_config("dev")["maas:consumers"])]
    untiered = run_stack("dev", overrides={"maas:tiers": [], "maas:consumers": untiered_consumers})

    def servers(run):
        return {d["metadata"]["name"]: d for d in run.objects("Deployment") if d["metadata"]["name"].endswith("-server")}

    assert servers(tiered) == servers(untiered)
    assert [tiered.outputs[k] for k in ("gpus", "gpusAtMax", "rateLimitConfig")] == [
        untiered.outputs[k] for k in ("gpus", "gpusAtMax", "rateLimitConfig")
    ]
    consumers = [{**c, "tier": "interactive"} if c["name"] == "playground" else c for c in json.loads(stack_config("dev")["maas:consumers"])]
    run = run_stack("dev", overrides={"maas:consumers": consumers})
    gateway = GatewaySimulator(run.objects(), *GATEWAY, rate_limiter=RateLimitSimulator(run.objects()))
    key = _bearer(run.outputs["apiKeys"]["playground"])
    statuses = [gateway.request(_chat("ski-resorts"), key).status for _ in range(21)]
    assert statuses == [200] * 20 + [429]  # playground's 20 requests a minute


# Blast radius ----------------------------------------------------------------------------------------------


def _tiered(models, tiers):
    return {**catalog_config(models), "maas:tiers": json.dumps(tiers)}


TIERS = [{"name": "gold", "priority": 5}, {"name": "bronze", "priority": -5}]


def test_adding_a_model_adds_its_objectives_and_edits_only_the_model_list():
    before = run_program(_tiered(simulator_catalog(3, 1), TIERS)).by_identity()
    after = run_program(_tiered(simulator_catalog(4, 1), TIERS)).by_identity()
    assert [key for key in before if before[key] != after[key]] == [
        ("v1", "ConfigMap", "agentgateway-system", "inference-gateway-models")
    ]
    objectives = {key[-1] for key in set(after) - set(before) if key[1] == "InferenceObjective"}
    assert objectives == {"model-3-7b.gold", "model-3-7b.bronze"}


def test_adding_a_tier_adds_objectives_and_touches_no_routing_object():
    models = simulator_catalog(3, 1)
    before = run_program(_tiered(models, TIERS)).by_identity()
    after = run_program(_tiered(models, TIERS + [{"name": "platinum", "priority": 50}])).by_identity()
    added = set(after) - set(before)
    assert {key[-1] for key in added} == {f"model-{i}-7b.platinum" for i in range(3)}
    changed = {(key[1], key[-1]) for key in before if before[key] != after[key]}
    # Only each picker's config (a new band) and the Deployment it rolls; no route, policy, pool
    # or backend.
    assert changed == {(kind, f"model-{i}-7b-epp") for i in range(3) for kind in ("ConfigMap", "Deployment")}


def test_giving_a_consumer_a_tier_edits_only_its_key():
    consumers = json.loads(stack_config("dev")["maas:consumers"])
    before = run_stack("dev").by_identity()
    for consumer in consumers:
        if consumer["name"] == "playground":
            consumer["tier"] = "interactive"
    after = run_stack("dev", overrides={"maas:consumers": consumers}).by_identity()
    assert [key for key in before if before[key] != after[key]] == [
        ("v1", "Secret", "agentgateway-system", "inference-gateway-consumer-playground")
    ]
