"""API keys, per-consumer model access, shared budgets, usage labels and /v1/models, followed
through the gateway simulator on both seed stacks."""

import copy
import hashlib
import json
import logging

import pytest
import yaml

import schema_check
from catalogs import catalog_config, simulator_catalog
from gateway_sim import GatewaySimulator, NginxPod, RateLimitSimulator
from harness import RANDOM_PASSWORD, SECRET_SIG, run_program, run_stack, stack_config
from llm_maas.models import load_config
from netpol import Pod, ingress_allowed

GATEWAY = ("inference-gateway", "agentgateway-system")


def _config(name):
    return load_config(stack_config(name))


def _chat(model):
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()


def _bearer(key):
    return {"Authorization": f"Bearer {key}"}


def _gateway(run, limiter=None):
    return GatewaySimulator(run.objects(), *GATEWAY, rate_limiter=limiter)


def _listed(outcome):
    body = json.loads(outcome.body)
    assert body["object"] == "list"
    for entry in body["data"]:
        assert set(entry) == {"id", "object", "created", "owned_by"} and entry["object"] == "model"
    return [entry["id"] for entry in body["data"]]


# Keys ------------------------------------------------------------------------------------------


def test_each_consumer_gets_its_own_key_as_a_secret_output(stack):
    name, run = stack
    consumers = [c.name for c in _config(name).consumers]
    keys = run.outputs["apiKeys"]
    assert sorted(keys) == sorted(consumers) and len(consumers) >= 2
    assert "apiKeys" in run.secret_outputs
    assert len(set(keys.values())) == len(keys)
    for key in keys.values():
        assert key.startswith("sk-maas-") and len(key.removeprefix("sk-maas-")) >= 32
    passwords = run.by_type(RANDOM_PASSWORD)
    assert all(p.plain_inputs["length"] >= 32 and p.plain_inputs["special"] is False for p in passwords)


def test_the_cluster_stores_only_the_sha256_of_each_key(stack):
    _, run = stack
    keys = run.outputs["apiKeys"]
    key_secrets = [s for s in run.objects("Secret") if "maas.llm-d.ai/api-keys-for" in s["metadata"]["labels"]]
    stored = {}
    for secret in key_secrets:
        registration = run.registration_of(secret)
        assert registration.inputs["stringData"][SECRET_SIG]  # a Pulumi secret on the wire too
        ((entry_name, entry),) = secret["stringData"].items()
        stored[entry_name] = json.loads(entry)
    assert sorted(stored) == sorted(keys)
    for consumer, key in keys.items():
        assert stored[consumer]["keyHash"] == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        assert stored[consumer]["metadata"]["consumer"] == consumer
    # No raw key anywhere in any object or input, secret or not, nor in a non-secret output.
    everything = json.dumps([r.plain_inputs for r in run.registrations])
    public_outputs = json.dumps({k: v for k, v in run.outputs.items() if k not in run.secret_outputs})
    for key in keys.values():
        assert key not in everything and key not in public_outputs


def test_bumping_key_version_replaces_only_that_consumers_key():
    consumers = json.loads(stack_config("dev")["maas:consumers"])
    before = run_stack("dev")
    consumers[0]["keyVersion"] = 2
    after = run_stack("dev", overrides={"maas:consumers": consumers})
    rotated, kept = consumers[0]["name"], consumers[1]["name"]
    assert after.outputs["apiKeys"][rotated] != before.outputs["apiKeys"][rotated]
    assert after.outputs["apiKeys"][kept] == before.outputs["apiKeys"][kept]

    def identities(run):
        return {(r.type, r.name): r.plain_inputs for r in run.registrations if r.custom}

    old, new = identities(before), identities(after)
    assert old.keys() == new.keys()
    changed = sorted(identity for identity in old if old[identity] != new[identity])
    # The password (new keepers: the provider replaces it) and the Secret holding its hash.
    assert changed == [("kubernetes:core/v1:Secret", f"maas-consumers-{rotated}-key"), (RANDOM_PASSWORD, f"maas-consumers-{rotated}-key")]
    # The old key no longer opens the gateway; the other consumer's still does.
    gateway = _gateway(after)
    assert gateway.request(_chat("Qwen/Qwen3-32B"), _bearer(before.outputs["apiKeys"][rotated])).status == 401
    assert gateway.request(_chat("Qwen/Qwen3-32B"), _bearer(after.outputs["apiKeys"][rotated])).status == 200
    assert gateway.request(_chat("Qwen/Qwen3-32B"), _bearer(after.outputs["apiKeys"][kept])).status == 200


# Authentication and access -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk-maas-not-a-real-key-0000000000000000"}, {"Authorization": "Basic abc"}],
    ids=["no-key", "wrong-key", "wrong-scheme"],
)
def test_requests_without_a_valid_key_get_401_and_reach_no_pool(stack, headers):
    name, run = stack
    for model in _config(name).models:
        outcome = _gateway(run).request(_chat(model.name), headers)
        assert outcome.status == 401 and outcome.pool is None and outcome.route is None
    listing = _gateway(run).request(b"", headers, path="/v1/models", method="GET")
    assert listing.status == 401 and listing.service is None


def test_each_consumer_reaches_exactly_the_names_it_may_call(stack):
    name, run = stack
    config = _config(name)
    keys = run.outputs["apiKeys"]
    pool_of = {served: m.pool_name for m in config.models for served in m.served_names}
    checked_forbidden = 0
    for consumer in config.consumers:
        allowed = set(consumer.models or config.served_names)
        for served in config.served_names:
            outcome = _gateway(run).request(_chat(served), _bearer(keys[consumer.name]))
            if served in allowed:
                assert outcome.status == 200, (consumer.name, served, outcome.body)
                assert outcome.pool_name == pool_of[served]
                assert outcome.llm_backend["metadata"]["name"] == pool_of[served]
                assert all(served in pods.served_names for pods in outcome.pods)
                # The credential is stripped before the request leaves the gateway.
                assert "authorization" not in outcome.headers
            else:
                assert outcome.status == 403 and outcome.pool is None, (consumer.name, served)
                checked_forbidden += 1
    assert checked_forbidden > 0


def test_a_restricted_consumer_cannot_dodge_the_rule(stack_runs):
    run = stack_runs["dev"]
    key = run.outputs["apiKeys"]["search-team"]
    gateway = _gateway(run)
    attempts = [
        (json.dumps({"messages": []}).encode(), {}),
        (b"not json", {}),
        (_chat("deepseek/DeepSeek-r1"), {"X-Gateway-Model-Name": "Qwen/Qwen3-32B"}),
        (json.dumps({"model": ["Qwen/Qwen3-32B"]}).encode(), {}),
    ]
    for body, extra in attempts:
        outcome = gateway.request(body, {**_bearer(key), **extra})
        assert outcome.status == 403 and outcome.pool is None, body


def test_an_open_stack_routes_without_keys_and_preview_warns(caplog):
    caplog.set_level(logging.WARNING)
    run = run_stack("dev", overrides={"maas:consumers": []})
    assert any("maas:consumers is empty" in r.getMessage() for r in caplog.records)
    assert run.outputs["apiKeys"] == {} and "apiKeys" in run.secret_outputs
    assert run.objects("AgentgatewayPolicy") and not [
        p for p in run.objects("AgentgatewayPolicy") if "apiKeyAuthentication" in p["spec"].get("traffic", {})
    ]
    outcome = _gateway(run).request(_chat("deepseek/DeepSeek-r1"))
    assert outcome.status == 200 and outcome.pool_name == "deepseek-r1"


# Budgets -----------------------------------------------------------------------------------------


def test_token_budgets_hold_per_consumer_and_leave_others_alone(stack):
    name, run = stack
    config = _config(name)
    keys = run.outputs["apiKeys"]
    limited = next(c for c in config.consumers if c.tokens_per_minute)
    other = next(c for c in config.consumers if c.name != limited.name)
    model = (limited.models or config.served_names)[0]
    limiter = RateLimitSimulator(run.objects())
    gateway = _gateway(run, limiter)
    # The call that crosses the budget completes (tokens are known only afterwards) ...
    crossing = gateway.request(_chat(model), _bearer(keys[limited.name]), completion_tokens=limited.tokens_per_minute + 1)
    assert crossing.status == 200
    # ... and the next one is refused before it reaches a pool.
    refused = gateway.request(_chat(model), _bearer(keys[limited.name]), completion_tokens=1)
    assert refused.status == 429 and refused.pods == []
    other_model = (other.models or config.served_names)[0]
    assert gateway.request(_chat(other_model), _bearer(keys[other.name]), completion_tokens=10).status == 200


def test_request_budgets_count_every_request_of_the_consumer(stack_runs):
    run = stack_runs["dev"]
    config = _config("dev")
    playground = next(c for c in config.consumers if c.name == "playground")
    key = run.outputs["apiKeys"]["playground"]
    gateway = _gateway(run, RateLimitSimulator(run.objects()))
    statuses = [gateway.request(_chat("ski-resorts"), _bearer(key)).status for _ in range(playground.requests_per_minute + 1)]
    assert statuses[:-1] == [200] * playground.requests_per_minute and statuses[-1] == 429
    search_key = run.outputs["apiKeys"]["search-team"]
    assert gateway.request(_chat("food-review-1"), _bearer(search_key)).status == 200


@pytest.mark.parametrize("failure_mode, status", [("FailOpen", 200), ("FailClosed", 500)])
def test_what_happens_when_the_rate_limit_service_is_down(failure_mode, status):
    run = run_stack("dev", overrides={"maas:rateLimit": {"failureMode": failure_mode}})
    limiter = RateLimitSimulator(run.objects())
    limiter.down = True
    outcome = _gateway(run, limiter).request(_chat("Qwen/Qwen3-32B"), _bearer(run.outputs["apiKeys"]["search-team"]))
    assert outcome.status == status
    assert (outcome.pool is not None) == (status == 200)


def test_every_budgeted_answer_says_what_is_left_and_a_429_when_to_retry(stack_runs):
    """The installed service's headers, as agentgateway copies them onto every answer: OpenAI's
    SDKs wait `retry-after` seconds before retrying a 429."""
    run = stack_runs["dev"]
    gateway = _gateway(run, RateLimitSimulator(run.objects(), seconds_to_reset=17))
    key = _bearer(run.outputs["apiKeys"]["playground"])  # 20 requests a minute
    first = gateway.request(_chat("ski-resorts"), key)
    assert first.status == 200
    assert {k: first.response_headers[k] for k in ("x-ratelimit-limit", "x-ratelimit-remaining", "retry-after")} == {
        "x-ratelimit-limit": "20", "x-ratelimit-remaining": "19", "retry-after": "17",
    }  # fmt: skip
    for _ in range(19):
        gateway.request(_chat("ski-resorts"), key)
    refused = gateway.request(_chat("ski-resorts"), key)
    assert refused.status == 429
    assert (refused.response_headers["x-ratelimit-remaining"], refused.response_headers["retry-after"]) == ("0", "17")


def test_budgets_charge_model_calls_only(stack_runs):
    """Listing models and asking for an unknown one are never counted nor refused for budget: an
    over-budget caller still lists and gets the JSON 404, and listing does not spend its budget."""
    run = stack_runs["dev"]
    limiter = RateLimitSimulator(run.objects())
    gateway = _gateway(run, limiter)
    key = _bearer(run.outputs["apiKeys"]["playground"])  # 20 requests a minute
    for _ in range(30):
        assert gateway.request(b"", key, path="/v1/models", method="GET").status == 200
        assert gateway.request(_chat("no-such-model"), key).status == 404
    assert limiter.counters == {}  # the budget service was never asked
    statuses = [gateway.request(_chat("ski-resorts"), key).status for _ in range(21)]
    assert statuses == [200] * 20 + [429]  # the whole budget was still there for model calls
    listing = gateway.request(b"", key, path="/v1/models", method="GET")
    missing = gateway.request(_chat("no-such-model"), key)
    assert listing.status == 200 and _listed(listing)
    assert missing.status == 404 and json.loads(missing.body)["error"]["code"] == "model_not_found"


def test_a_budget_outage_never_takes_the_listing_down():
    run = run_stack("dev", overrides={"maas:rateLimit": {"failureMode": "FailClosed"}})
    limiter = RateLimitSimulator(run.objects())
    limiter.down = True
    gateway = _gateway(run, limiter)
    key = _bearer(run.outputs["apiKeys"]["playground"])
    assert gateway.request(b"", key, path="/v1/models", method="GET").status == 200
    assert gateway.request(_chat("no-such-model"), key).status == 404
    assert gateway.request(_chat("Qwen/Qwen3-32B"), key).status == 500  # model calls: FailClosed as asked


def test_budgets_are_generated_from_the_catalog(stack):
    name, run = stack
    config = _config(name)
    (document,) = [c["data"]["config.yaml"] for c in run.objects("ConfigMap") if c["metadata"]["name"].endswith("-ratelimit")]
    limits = yaml.safe_load(document)
    (policy,) = [p for p in run.objects("AgentgatewayPolicy") if "rateLimit" in p["spec"].get("traffic", {})]
    assert limits["domain"] == policy["spec"]["traffic"]["rateLimit"]["global"]["domain"] == config.rate_limit.domain
    expected = sorted(
        (key, c.name, budget)
        for c in config.consumers
        for key, budget in (("consumer_tokens", c.tokens_per_minute), ("consumer_requests", c.requests_per_minute))
        if budget
    )
    # Team budgets are per UTC day, in ten-thousandths of the currency (README: Spend).
    expected += sorted(("team_spend", t.name, int(t.spend_per_day * 10_000)) for t in config.teams if t.spend_per_day)
    found = [(d["key"], d["value"], d["rate_limit"]["requests_per_unit"]) for d in limits["descriptors"]]
    assert sorted(found) == sorted(expected)
    assert {d["rate_limit"]["unit"] for d in limits["descriptors"] if d["key"] != "team_spend"} == {"minute"}
    assert {d["rate_limit"]["unit"] for d in limits["descriptors"] if d["key"] == "team_spend"} <= {"day"}
    assert run.outputs["rateLimitConfig"] == document


def test_no_budget_service_without_budgets_and_an_external_one_on_request():
    consumers = [{"name": "alpha"}, {"name": "beta", "models": ["ski-resorts"]}]
    plain = run_stack("dev", overrides={"maas:consumers": consumers})
    assert not [d for d in plain.objects("Deployment") if "ratelimit" in d["metadata"]["name"]]
    assert not [p for p in plain.objects("AgentgatewayPolicy") if "rateLimit" in p["spec"].get("traffic", {})]
    external = {"install": False, "service": {"name": "ratelimit", "namespace": "shared-limits", "port": 8081}}
    budgeted = [{"name": "alpha", "tokensPerMinute": 1000}]
    run = run_stack("dev", overrides={"maas:consumers": budgeted, "maas:rateLimit": external})
    assert not [d for d in run.objects("Deployment") if "ratelimit" in d["metadata"]["name"]]
    (policy,) = [p for p in run.objects("AgentgatewayPolicy") if "rateLimit" in p["spec"].get("traffic", {})]
    assert policy["spec"]["traffic"]["rateLimit"]["global"]["backendRef"] == external["service"]
    (grant,) = run.objects("ReferenceGrant")
    assert grant["metadata"]["namespace"] == "shared-limits"
    assert grant["spec"]["from"] == [{"group": "agentgateway.dev", "kind": "AgentgatewayPolicy", "namespace": "llm-d"}]
    assert grant["spec"]["to"] == [{"group": "", "kind": "Service", "name": "ratelimit"}]
    assert "consumer_tokens" in run.outputs["rateLimitConfig"]


# /v1/models and usage ----------------------------------------------------------------------------


def test_v1_models_lists_what_each_caller_may_call(stack):
    name, run = stack
    config = _config(name)
    keys = run.outputs["apiKeys"]
    for consumer in config.consumers:
        outcome = _gateway(run).request(b"", _bearer(keys[consumer.name]), path="/v1/models", method="GET")
        assert outcome.status == 200 and outcome.pool is None
        assert _listed(outcome) == [n for n in config.served_names if n in (consumer.models or config.served_names)]
    open_run = run_stack(name, overrides={"maas:consumers": []}, secrets={"maas:hfToken": "hf_x"})
    assert _listed(_gateway(open_run).request(b"", path="/v1/models", method="GET")) == config.served_names


# What a client, or a cache in front of it, may send with GET /v1/models.
LISTING_HEADERS = {
    "plain": {},
    "range": {"Range": "bytes=0-99999"},
    "if-modified-since": {"If-Modified-Since": NginxPod.LAST_MODIFIED},
    "if-none-match-star": {"If-None-Match": "*"},
    "if-none-match-and-since": {"If-None-Match": "*", "If-Modified-Since": NginxPod.LAST_MODIFIED},
    "if-match": {"If-Match": '"an-old-etag"'},
    "if-unmodified-since-past": {"If-Unmodified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"},
    "accept-encoding": {"Accept-Encoding": "gzip, br"},
}


def _list_with(objects, run, extra):
    gateway = GatewaySimulator(objects, *GATEWAY)
    headers = {**_bearer(run.outputs["apiKeys"]["search-team"]), **extra}
    return gateway.request(b"", headers, path="/v1/models", method="GET")


@pytest.mark.parametrize("variant", LISTING_HEADERS)
def test_the_listing_filter_never_fails_on_what_nginx_serves(stack_runs, variant):
    """A failed filter sends an empty body; an unfiltered answer shows names the key may not call.
    Whatever the request carries, the listing location answers with the whole file (filtered) or
    with a status that carries no list."""
    run = stack_runs["dev"]
    allowed = ["Qwen/Qwen3-32B", "food-review-1"]
    outcome = _list_with(run.objects(), run, LISTING_HEADERS[variant])
    if outcome.status == 200:
        assert _listed(outcome) == allowed
    else:
        # Preconditions nginx still honours (412, and 304 for `If-None-Match: *`) carry no list.
        assert outcome.status in (304, 412) and variant in ("if-none-match-star", "if-match", "if-unmodified-since-past")
        assert not any(name in (outcome.body or "") for name in _config("dev").served_names)
    assert variant not in ("plain", "range", "if-modified-since", "if-none-match-and-since", "accept-encoding") or outcome.status == 200


def test_without_whole_file_answers_the_listing_leaks_or_goes_blank(stack_runs):
    """What `max_ranges 0`, `etag off` and `if_modified_since off` prevent: nginx's defaults answer
    a Range with an unfiltered slice of every name, and a revalidation with a bodiless 304."""
    run = stack_runs["dev"]
    objects = copy.deepcopy(run.objects())
    for config_map in objects:
        if config_map["kind"] == "ConfigMap" and "default.conf" in config_map.get("data", {}):
            conf = config_map["data"]["default.conf"]
            for directive in ("max_ranges 0;", "etag off;", "if_modified_since off;"):
                conf = conf.replace(directive, "")
            config_map["data"]["default.conf"] = conf
    ranged = _list_with(objects, run, {"Range": "bytes=0-99999"})
    assert ranged.status == 206 and "deepseek/DeepSeek-r1" in ranged.body  # a name search-team may not call
    assert _list_with(objects, run, {"If-Modified-Since": NginxPod.LAST_MODIFIED}).status == 304


def test_a_listing_too_big_for_its_config_map_is_refused():
    from llm_maas.models import ConfigError

    # 3,600 names of 250 characters: over the 1 MiB a ConfigMap (and so the list) may hold.
    models = [
        {"name": f"m{i}", "server": "simulator", "adapters": [f"a{i}-{j}-" + "x" * 240 for j in range(400)]}
        for i in range(9)
    ]
    with pytest.raises(ConfigError, match=r"maas:models = \"3609 served names\": their /v1/models list is \d+ bytes, and the ConfigMap that holds it may have at most 1048576"):
        load_config({**stack_config("dev"), "maas:models": json.dumps(models)})


def test_v1_models_scales_to_a_thousand_names():
    models = simulator_catalog(50, 19)
    run = run_program(catalog_config(models))
    listed = _listed(_gateway(run).request(b"", path="/v1/models", method="GET"))
    assert len(listed) == 1000 and listed == [n for m in models for n in [m["name"], *m["adapters"]]]
    (listing,) = [c for c in run.objects("ConfigMap") if c["metadata"]["name"] == "inference-gateway-models"]
    assert len(listing["data"]["models.json"]) < 1024 * 1024 - 64 * 1024  # well inside a ConfigMap


def test_usage_metrics_carry_the_consumer_and_its_team(stack):
    name, run = stack
    keys = run.outputs["apiKeys"]
    for consumer, key in keys.items():
        declared = next(c for c in _config(name).consumers if c.name == consumer)
        model = (declared.models or _config(name).served_names)[0]
        # A consumer without a team is labelled as agentgateway labels a failed expression.
        team = declared.team or "unknown"
        assert _gateway(run).request(_chat(model), _bearer(key)).metric_labels == {"consumer": consumer, "team": team}


# Blast radius and isolation ----------------------------------------------------------------------


def test_adding_a_consumer_edits_only_the_budget_configuration():
    consumers = json.loads(stack_config("dev")["maas:consumers"])
    before = run_stack("dev").by_identity()
    grown = consumers + [{"name": "new-team", "models": ["ski-resorts"], "tokensPerMinute": 5000, "tier": "batch"}]
    after = run_stack("dev", overrides={"maas:consumers": grown}).by_identity()
    changed = [key for key in before if before[key] != after[key]]
    assert changed == [("v1", "ConfigMap", "agentgateway-system", "inference-gateway-ratelimit")]
    added = {key for key in set(after) - set(before) if len(key) == 4}
    assert added == {("v1", "Secret", "agentgateway-system", "inference-gateway-consumer-new-team")}


def test_adding_a_model_edits_only_the_model_list_when_consumers_exist():
    consumers = [{"name": "a", "tokensPerMinute": 10}, {"name": "b", "models": ["org-0/model-0-7B"]}]
    config = {**catalog_config(simulator_catalog(3, 1)), "maas:consumers": json.dumps(consumers)}
    before = run_program(config).by_identity()
    config["maas:models"] = json.dumps(simulator_catalog(4, 1))
    after = run_program(config).by_identity()
    assert [key for key in before if before[key] != after[key]] == [
        ("v1", "ConfigMap", "agentgateway-system", "inference-gateway-models")
    ]


def test_budget_store_and_model_list_admit_only_their_callers(stack):
    _, run = stack
    objects = run.objects()
    pods = {d["metadata"]["name"]: Pod(d["metadata"]["namespace"], d["spec"]["template"]["metadata"]["labels"]) for d in run.objects("Deployment")}
    data_plane = Pod("agentgateway-system", {"gateway.networking.k8s.io/gateway-name": "inference-gateway"})
    stranger = Pod("agentgateway-system", {"app": "curious"})
    limiter, redis, listing = pods["inference-gateway-ratelimit"], pods["inference-gateway-ratelimit-redis"], pods["inference-gateway-models"]
    assert ingress_allowed(objects, data_plane, limiter, 8081) and not ingress_allowed(objects, stranger, limiter, 8081)
    assert not ingress_allowed(objects, data_plane, limiter, 6070)  # debug port stays closed
    assert ingress_allowed(objects, limiter, redis, 6379)
    assert not ingress_allowed(objects, data_plane, redis, 6379) and not ingress_allowed(objects, stranger, redis, 6379)
    assert ingress_allowed(objects, data_plane, listing, 8080) and not ingress_allowed(objects, stranger, listing, 8080)


def test_redis_needs_a_password_that_only_the_rate_limit_service_gets(stack):
    _, run = stack
    (secret,) = [s for s in run.objects("Secret") if s["metadata"]["name"] == "inference-gateway-ratelimit-redis"]
    assert run.registration_of(secret).inputs["stringData"][SECRET_SIG]
    password = secret["stringData"]["password"]
    assert f"requirepass {password}" in secret["stringData"]["redis.conf"] and len(password) >= 32
    deployments = {d["metadata"]["name"]: d for d in run.objects("Deployment")}
    redis = deployments["inference-gateway-ratelimit-redis"]["spec"]["template"]["spec"]
    assert password not in json.dumps(redis)  # read from the mounted file, not the command line
    env = deployments["inference-gateway-ratelimit"]["spec"]["template"]["spec"]["containers"][0]["env"]
    (auth,) = [e for e in env if e["name"] == "REDIS_AUTH"]
    assert auth["valueFrom"]["secretKeyRef"] == {"name": "inference-gateway-ratelimit-redis", "key": "password"}


def test_rate_limit_configuration_reloads_in_place(stack):
    """A subPath mount never sees ConfigMap updates, and the root watch misses kubelet's swap."""
    _, run = stack
    (deployment,) = [d for d in run.objects("Deployment") if d["metadata"]["name"] == "inference-gateway-ratelimit"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RUNTIME_WATCH_ROOT"] == "false" and env["RUNTIME_IGNOREDOTFILES"] == "true"
    assert all("subPath" not in m for m in container["volumeMounts"])
    assert "annotations" not in deployment["spec"]["template"]["metadata"]  # no restart on a budget change
    mutated = copy.deepcopy(run.objects())
    for obj in mutated:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "inference-gateway-ratelimit":
            obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] = "/elsewhere"
    assert RateLimitSimulator(run.objects()).limits("inference-gateway-ratelimit", "agentgateway-system", 8081)
    assert RateLimitSimulator(mutated).limits("inference-gateway-ratelimit", "agentgateway-system", 8081) is None


@schema_check.needs_crds
@pytest.mark.parametrize(
    "overrides",
    [
        {"maas:consumers": [{"name": "alpha", "tokensPerMinute": 10}],
         "maas:rateLimit": {"install": False, "service": {"name": "ratelimit", "namespace": "shared-limits"}}},
        {"maas:consumers": [{"name": "alpha", "requestsPerMinute": 5}], "maas:rateLimit": {"replicas": 3}},
        {"maas:consumers": [{"name": "alpha", "models": ["ski-resorts"]}]},
        {"maas:consumers": []},
    ],
    ids=["external-budget-service", "replicated-budget-service", "no-budgets", "open"],
)
def test_every_variant_passes_the_real_schemas(overrides):
    run = run_stack("dev", overrides=overrides)
    crds = schema_check.catalog(schema_check.crds_dir(), schema_check.crd_pins(_config("dev").versions))
    assert schema_check.validate_all(run.objects(), crds) == {}


def test_the_simulator_reads_every_entry_form_agentgateway_accepts(stack_runs):
    """Raw keys and `{"key": ...}` entries as well as the stack's `keyHash` form; metadata
    reaches CEL as `apiKey`."""
    objects = copy.deepcopy(stack_runs["dev"].objects())
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "hand-made",
                "namespace": "agentgateway-system",
                "labels": {"maas.llm-d.ai/api-keys-for": "inference-gateway"},
            },
            "stringData": {
                "raw": "plain-raw-key",
                "with-metadata": json.dumps({"key": "json-key", "metadata": {"consumer": "ops", "models": ["ski-resorts"]}}),
            },
        }
    )
    gateway = GatewaySimulator(objects, *GATEWAY)
    raw = gateway.request(_chat("food-review-1"), _bearer("plain-raw-key"))
    assert raw.status == 200 and raw.api_key == {"key": "<redacted>"}
    assert raw.metric_labels == {"consumer": "unknown", "team": "unknown"}
    scoped = gateway.request(_chat("ski-resorts"), _bearer("json-key"))
    assert scoped.status == 200 and scoped.api_key["consumer"] == "ops"
    assert scoped.metric_labels == {"consumer": "ops", "team": "unknown"}
    assert gateway.request(_chat("food-review-1"), _bearer("json-key")).status == 403


# What the budget service really reads ------------------------------------------------------------

# Consumer names (DNS-1123 labels) that YAML 1.1 does not read as strings when unquoted.
YAML_11_NAMES = ["null", "y", "n", "yes", "no", "on", "off", "true", "false", "1e3", "2024-01-01", "0123", "089",
                 "0x1f", "123", "0b101", "1-2"]  # fmt: skip


@pytest.mark.parametrize("domain", ["maas", "null", "1e3", "on"])
def test_every_consumer_name_and_budget_loads_as_itself_in_the_go_reader(domain):
    """The generated configuration, read with yaml.v2's rules (tests/goyaml.py), loads, keeps the
    domain, and gives every consumer exactly its own budgets, down to 1 and up to a uint32."""
    from goyaml import limit_for, load_ratelimit_config

    from llm_maas.components.consumers.access import rate_limit_config
    from llm_maas.models import Consumer

    consumers = [Consumer(name=name, tokens_per_minute=2**32 - 1, requests_per_minute=i + 1) for i, name in enumerate(YAML_11_NAMES)]
    loaded_domain, limits = load_ratelimit_config(rate_limit_config(domain, consumers))
    assert loaded_domain == domain
    for i, name in enumerate(YAML_11_NAMES):
        assert limit_for(limits, "consumer_requests", name).requests_per_unit == i + 1, name
        assert limit_for(limits, "consumer_tokens", name).requests_per_unit == 2**32 - 1, name
    assert limit_for(limits, "consumer_requests", "someone-without-a-budget") is None


@pytest.mark.parametrize("name", ["1e3", "089"])
def test_plain_yaml_would_have_the_service_refuse_its_configuration(name):
    """Why every string is quoted: PyYAML's own output writes these names plain (YAML 1.1 as
    PyYAML reads it has no such float), and yaml.v2 reads them as floats, which the service's
    key check refuses, taking every budget down with the file."""
    from goyaml import GoYamlError, load_ratelimit_config

    document = {"domain": "maas", "descriptors": [
        {"key": "consumer_requests", "value": name, "rate_limit": {"unit": "minute", "requests_per_unit": 5}}]}  # fmt: skip
    with pytest.raises(GoYamlError, match="error checking config"):
        load_ratelimit_config(yaml.safe_dump(document))


def test_an_empty_value_would_budget_every_consumer():
    """What a plain `null` name would have done: keyed by `consumer_requests` alone, the limit
    applies to every consumer without a budget of its own (GetLimit's fallback)."""
    from goyaml import limit_for, load_ratelimit_config

    _, limits = load_ratelimit_config(
        "domain: maas\ndescriptors:\n- {key: consumer_requests, value: null, rate_limit: {unit: minute, requests_per_unit: 5}}\n"
    )
    assert limit_for(limits, "consumer_requests", "anyone").requests_per_unit == 5


def test_a_budget_the_service_cannot_hold_is_refused():
    from llm_maas.models import ConfigError, load_config

    too_big = json.dumps([{"name": "team", "tokensPerMinute": 2**32}])
    with pytest.raises(ConfigError, match=r"maas:consumers\[0\]\.tokensPerMinute = 4294967296: Input should be less than or equal to 4294967295"):
        load_config({**stack_config("dev"), "maas:consumers": too_big})


# No request shape escapes a token budget ---------------------------------------------------------

SHAPES = [
    ("/v1/chat/completions", {}),
    ("/v1/chat/completions", {"stream": True}),
    ("/v1/chat/completions", {"stream": True, "stream_options": {"include_usage": False}}),
    ("/v1/chat/completions", {"stream": True, "stream_options": None}),
    ("/v1/chat/completions", {"n": 2}),
    ("/v1/completions", {"stream": True}),
    ("/v1/completions", {"stream": True, "stream_options": {"include_usage": False, "continuous_usage_stats": True}}),
]


def _spend_the_budget(objects, run, path, extra):
    """One request of this shape that costs more than search-team's 200,000 tokens a minute,
    then another: the second is refused only if the first was charged."""
    gateway = GatewaySimulator(objects, *GATEWAY, rate_limiter=RateLimitSimulator(objects))
    key = _bearer(run.outputs["apiKeys"]["search-team"])
    body = json.dumps({"model": "Qwen/Qwen3-32B", "messages": [{"role": "user", "content": "hi"}], **extra}).encode()
    first = gateway.request(body, key, path=path, completion_tokens=250_000)
    return first, gateway.request(body, key, path=path)


@pytest.mark.parametrize("path, extra", SHAPES, ids=[f"{p.rsplit('/', 1)[1]}-{json.dumps(e)}" for p, e in SHAPES])
def test_every_request_shape_is_charged_its_tokens(stack_runs, path, extra):
    run = stack_runs["dev"]
    first, second = _spend_the_budget(run.objects(), run, path, extra)
    assert (first.status, second.status) == (200, 429)
    sent = json.loads(first.upstream_body)
    assert sent["messages"] == [{"role": "user", "content": "hi"}] and sent["model"] == "Qwen/Qwen3-32B"
    if extra.get("stream"):
        assert sent["stream_options"]["include_usage"] is True
        assert all(sent["stream_options"][k] == v for k, v in (extra.get("stream_options") or {}).items() if k != "include_usage")
    else:
        assert sent == {"model": "Qwen/Qwen3-32B", "messages": [{"role": "user", "content": "hi"}], **extra}  # unchanged


def test_without_the_usage_rewrite_a_stream_would_be_free(stack_runs):
    """What the route's body rewrite prevents: the same policies without it let a stream with
    include_usage false through uncharged (agentgateway adds the flag only when stream_options is
    absent)."""
    run = stack_runs["dev"]
    objects = copy.deepcopy(run.objects())
    for policy in objects:
        if policy["kind"] == "AgentgatewayPolicy":
            policy["spec"].get("traffic", {}).get("transformation", {}).get("request", {}).pop("body", None)
    first, second = _spend_the_budget(objects, run, "/v1/chat/completions", {"stream": True, "stream_options": {"include_usage": False}})
    assert (first.status, second.status) == (200, 200)
