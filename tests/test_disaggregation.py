"""Prefill/decode disaggregation: the README's prod example (a 235B MoE model on 4-GPU decode
and 2-GPU prefill pods beside the guide's small models) and the dev stack's disaggregated
simulator pool, followed through the gateway, the picker's profiles, the sidecar, the
NetworkPolicies, the autoscalers, the real CRDs and the policy pack."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

import schema_check
from conftest import FAKE_HF_TOKEN
from flow_control_sim import EndpointPicker
from gateway_sim import GatewaySimulator, served_names_at
from harness import REPO, run_stack, stack_config
from llm_maas.models import load_config
from netpol import Pod, ingress_allowed
from policy_host import diagnostics, serve_policy_pack
from prometheus_sim import Prometheus, desired_replicas, discover, pods_of

sys.path.insert(0, str(REPO / "policy"))
import maas_policies as pack  # noqa: E402

BIG = "Qwen/Qwen3-235B-A22B-FP8"
GATEWAY = ("inference-gateway", "agentgateway-system")
POOL_PORT, ENGINE_PORT, NIXL_PORT, UCX_PORT = 8000, 8200, 5600, 41877  # UCX_PORT: any port UCX might pick
LONG_PROMPT = "Summarise this contract. " + "The party of the first part agrees. " * 200  # ~1,800 tokens
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def readme_example() -> dict:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Prefill and decode on separate pods", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


def with_example() -> dict:
    example = readme_example()
    return {
        "maas:models": json.loads(stack_config("prod")["maas:models"]) + example["maas:models"],
        "maas:gpuBudget": example["maas:gpuBudget"],
    }


@pytest.fixture(scope="module")
def big_run():
    return run_stack("prod", with_example(), secrets={"maas:hfToken": FAKE_HF_TOKEN})


def _deployments(run) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in run.objects("Deployment")}


def _chat(model, content="hi"):
    return json.dumps({"model": model, "messages": [{"role": "user", "content": content}]}).encode()


def _flags(argv: list[str]) -> dict[str, str]:
    return {a.split("=")[0]: (a.split("=", 1)[1] if "=" in a else argv[i + 1]) for i, a in enumerate(argv)
            if a.startswith("--") and ("=" in a or (i + 1 < len(argv) and not argv[i + 1].startswith("--")))}  # fmt: skip


def _route(run, served, content, key_consumer):
    gateway = GatewaySimulator(run.objects(), *GATEWAY)
    outcome = gateway.request(_chat(served, content), {"Authorization": f"Bearer {run.outputs['apiKeys'][key_consumer]}"})
    assert outcome.status == 200, outcome.body
    picker = EndpointPicker(run.objects(), outcome.epp_deployment)
    return outcome, picker.schedule(outcome.pods, content, outcome.pool["spec"]["targetPorts"][0]["number"])


# The request path ----------------------------------------------------------------------------


@pytest.mark.parametrize("served", ["Qwen/Qwen3-32B", "food-review-1"])
def test_a_long_prompt_reaches_a_decode_pods_sidecar_which_prefills_on_a_prefill_pod(stack_runs, served):
    """dev's disaggregated simulator pool: the gateway reaches a decode pod on the pool's port,
    where the sidecar takes it and hands it to the server behind; the picker names a prefill pod,
    whose own server on the pool's port answers the same name (adapters included)."""
    run = stack_runs["dev"]
    outcome, schedule = _route(run, served, LONG_PROMPT, "search-team")
    assert outcome.pool_name == "qwen3-32b"
    decode, prefill = schedule.decode, schedule.prefill
    assert decode.labels["llm-d.ai/role"] == "decode" and decode.listener == "routing-sidecar"
    assert served in decode.served_names
    assert prefill is not None and prefill.labels["llm-d.ai/role"] == "prefill"
    host, port = schedule.headers["x-prefiller-host-port"].rsplit(":", 1)
    assert host == prefill.deployment["metadata"]["name"] and int(port) == POOL_PORT
    names, taken_by = served_names_at(prefill.deployment, int(port))
    assert served in names and taken_by == "simulator"  # no sidecar on a prefill pod


def test_a_short_prompt_stays_on_its_decode_pod(stack_runs):
    _, schedule = _route(stack_runs["dev"], "Qwen/Qwen3-32B", "hi", "search-team")
    assert schedule.decode.labels["llm-d.ai/role"] == "decode"
    assert schedule.prefill is None and schedule.headers == {}


def test_only_the_picker_chooses_where_a_prompt_is_prefilled(stack_runs):
    """A client naming its own prefill address (any host the sidecar would post the prompt to)
    never reaches the picker or the pod."""
    run = stack_runs["dev"]
    outcome = GatewaySimulator(run.objects(), *GATEWAY).request(
        _chat("Qwen/Qwen3-32B"),
        {"Authorization": f"Bearer {run.outputs['apiKeys']['search-team']}", "X-Prefiller-Host-Port": "evil.example:80"},
    )
    assert outcome.status == 200 and "x-prefiller-host-port" not in outcome.upstream_headers


def test_the_picker_runs_the_disaggregation_profiles(big_run):
    config = json.loads(next(c for c in big_run.objects("ConfigMap") if c["metadata"]["name"] == "qwen3-235b-a22b-fp8-epp")["data"]["config.yaml"])
    plugins = {p["type"]: p.get("parameters") for p in config["plugins"]}
    assert plugins["disagg-profile-handler"] == {"deciders": {"prefill": "prefix-based-pd-decider"}}
    assert plugins["prefix-based-pd-decider"] == {"nonCachedTokens": 512}
    profiles = {p["name"]: [ref["pluginRef"] for ref in p["plugins"]] for p in config["schedulingProfiles"]}
    assert profiles == {
        "decode": ["decode-filter", "queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer"],
        "prefill": ["prefill-filter", "queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer"],
    }
    assert {"prefill-filter", "decode-filter", "approx-prefix-cache-producer"} <= set(plugins)
    (pool,) = [p for p in big_run.objects("InferencePool") if p["metadata"]["name"] == "qwen3-235b-a22b-fp8"]
    assert pool["spec"]["targetPorts"] == [{"number": POOL_PORT}]
    assert pool["spec"]["selector"]["matchLabels"] == {"maas.llm-d.ai/pool": "qwen3-235b-a22b-fp8"}


# The pods ------------------------------------------------------------------------------------


def test_decode_pods_run_vllm_behind_the_sidecar_and_prefill_pods_alone_both_moving_kv_over_nixl(big_run):
    deployments = _deployments(big_run)
    decode, prefill = deployments["qwen3-235b-a22b-fp8-server"], deployments["qwen3-235b-a22b-fp8-prefill"]
    decode_spec, prefill_spec = decode["spec"]["template"]["spec"], prefill["spec"]["template"]["spec"]
    (sidecar,) = decode_spec["initContainers"]
    assert sidecar["image"] == "ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.10.0" and sidecar["restartPolicy"] == "Always"
    assert _flags(sidecar["args"]) == {
        "--port": "8000", "--model-server-port": "8200", "--kv-connector": "nixlv2", "--secure-proxy": "false",
    }  # fmt: skip
    assert "initContainers" not in prefill_spec
    for spec, port, gpus in ((decode_spec, ENGINE_PORT, "4"), (prefill_spec, POOL_PORT, "2")):
        (vllm,) = spec["containers"]
        flags = _flags(vllm["args"])
        assert flags["--port"] == str(port) and flags["--tensor-parallel-size"] == gpus
        assert json.loads(flags["--kv-transfer-config"]) == {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
        env = {e["name"]: e for e in vllm["env"]}
        assert env["VLLM_NIXL_SIDE_CHANNEL_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert env["VLLM_NIXL_SIDE_CHANNEL_PORT"]["value"] == str(NIXL_PORT)
        assert vllm["readinessProbe"]["httpGet"]["port"] == port
        assert vllm["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H200"}
    assert decode["spec"]["template"]["metadata"]["labels"]["llm-d.ai/role"] == "decode"
    assert prefill["spec"]["template"]["metadata"]["labels"]["llm-d.ai/role"] == "prefill"
    # Decode keeps the pool selector a model had before it was disaggregated (selectors are
    # immutable); the prefill Deployment names its role.
    assert decode["spec"]["selector"]["matchLabels"] == {"maas.llm-d.ai/pool": "qwen3-235b-a22b-fp8"}
    assert prefill["spec"]["selector"]["matchLabels"] == {"maas.llm-d.ai/pool": "qwen3-235b-a22b-fp8", "llm-d.ai/role": "prefill"}


def test_simulators_play_both_roles_without_vllm_flags(stack_runs):
    deployments = _deployments(stack_runs["dev"])
    for name, port in (("qwen3-32b-server", ENGINE_PORT), ("qwen3-32b-prefill", POOL_PORT)):
        (simulator,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert _flags(simulator["args"])["--port"] == str(port)
        assert "--kv-transfer-config" not in simulator["args"]  # v0.8.2 rejects unknown flags


def test_turning_a_model_disaggregated_updates_its_servers_in_place(stack_runs):
    """Same URN, same selector: the decode Deployment is updated, not replaced; the rest is new."""
    models = json.loads(stack_config("dev")["maas:models"])
    plain = run_stack("dev", {"maas:models": [{k: v for k, v in m.items() if k != "prefill"} for m in models]})
    urns = {r.urn for r in stack_runs["dev"].registrations}
    assert {r.urn for r in plain.registrations} <= urns
    before, after = _deployments(plain)["qwen3-32b-server"], _deployments(stack_runs["dev"])["qwen3-32b-server"]
    assert before["spec"]["selector"] == after["spec"]["selector"]


# Traffic -------------------------------------------------------------------------------------


def test_network_policies_pod_by_pod_and_port_by_port(big_run):
    objects = big_run.objects()
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in _deployments(big_run).items()}
    decode, prefill = Pod("llm-d", labels["qwen3-235b-a22b-fp8-server"]), Pod("llm-d", labels["qwen3-235b-a22b-fp8-prefill"])
    epp = Pod("llm-d", labels["qwen3-235b-a22b-fp8-epp"])
    other_epp = Pod("llm-d", labels["qwen3-06b-epp"])
    other_model = Pod("llm-d", labels["qwen3-06b-server"])
    gateway = Pod("agentgateway-system", {"gateway.networking.k8s.io/gateway-name": "inference-gateway"})
    scraper = Pod("openshift-user-workload-monitoring", {"app.kubernetes.io/name": "prometheus"})
    stranger = Pod("llm-d", {"app": "debug"})

    assert ingress_allowed(objects, gateway, decode, POOL_PORT)
    assert not ingress_allowed(objects, gateway, prefill, POOL_PORT)
    for port in (POOL_PORT, NIXL_PORT, UCX_PORT):
        assert ingress_allowed(objects, decode, prefill, port)
    assert ingress_allowed(objects, prefill, decode, UCX_PORT)
    for reader in (epp, scraper):
        assert ingress_allowed(objects, reader, decode, POOL_PORT) and ingress_allowed(objects, reader, prefill, POOL_PORT)
        assert not ingress_allowed(objects, reader, prefill, NIXL_PORT)
    for outsider in (other_model, other_epp, stranger, gateway):
        for port in (POOL_PORT, NIXL_PORT, UCX_PORT):
            assert not ingress_allowed(objects, outsider, prefill, port), (outsider, port)
    assert not ingress_allowed(objects, other_model, decode, UCX_PORT)
    assert not ingress_allowed(objects, gateway, decode, ENGINE_PORT)  # vLLM behind the sidecar


# GPUs and scaling ----------------------------------------------------------------------------


def test_gpu_outputs_add_both_sides_at_min_configured_and_max(big_run):
    prod = load_config(stack_config("prod"))
    # decode 4 GPUs a pod, 1..2 pods (configured: its minimum); prefill 2 a pod, 1..3 (configured: 2)
    assert big_run.outputs["gpus"] == prod.total_gpus + 1 * 4 + 2 * 2
    assert big_run.outputs["gpusAtMin"] == prod.gpus_at_min + 1 * 4 + 1 * 2
    assert big_run.outputs["gpusAtMax"] == prod.gpus_at_max + 2 * 4 + 3 * 2 == readme_example()["maas:gpuBudget"]
    with pytest.raises(Exception, match=r"maas:gpuBudget = 18: the catalog may ask for 19 GPUs .*Qwen3-235B-A22B-FP8 14"):
        load_config({**stack_config("prod"), **{k: json.dumps(v) for k, v in with_example().items()}, "maas:gpuBudget": "18"})


def test_each_side_scales_on_its_own_queue(big_run):
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in big_run.objects("ScaledObject")}
    decode_scaler, prefill_scaler = scaled["qwen3-235b-a22b-fp8-server"], scaled["qwen3-235b-a22b-fp8-prefill"]
    assert (prefill_scaler["spec"]["minReplicaCount"], prefill_scaler["spec"]["maxReplicaCount"]) == (1, 3)
    pods = pods_of(big_run.objects(), {"qwen3-235b-a22b-fp8-server": 1, "qwen3-235b-a22b-fp8-prefill": 1})
    prometheus = Prometheus(discover(big_run.objects(), pods))
    by_role = {
        (t.labels.get("role"), t.port): t.pod.name for t in prometheus.targets if t.labels.get("pool") == "qwen3-235b-a22b-fp8"
    }
    assert set(by_role) >= {("decode", POOL_PORT), ("prefill", POOL_PORT)}, "both sides are scraped, labelled by role"
    assert desired_replicas(decode_scaler, prometheus) == desired_replicas(prefill_scaler, prometheus) == 1
    prometheus.values[("vllm:num_requests_waiting", by_role[("prefill", POOL_PORT)])] = 12  # long prompts pile up
    assert (desired_replicas(decode_scaler, prometheus), desired_replicas(prefill_scaler, prometheus)) == (1, 3)
    prometheus.values[("vllm:num_requests_waiting", by_role[("prefill", POOL_PORT)])] = 0
    epp = next(t.pod.name for t in prometheus.targets if t.labels.get("pool") == "qwen3-235b-a22b-fp8" and t.port == 9090)
    prometheus.values[("llm_d_epp_flow_control_queue_size", epp)] = 16  # the picker holds requests for decode pods
    assert (desired_replicas(decode_scaler, prometheus), desired_replicas(prefill_scaler, prometheus)) == (2, 1)


def test_each_side_rolls_and_drains_on_its_own(big_run):
    budgets = {b["metadata"]["name"]: b["spec"]["selector"]["matchLabels"] for b in big_run.objects("PodDisruptionBudget")}
    assert budgets["qwen3-235b-a22b-fp8-server"]["llm-d.ai/role"] == "decode"
    assert budgets["qwen3-235b-a22b-fp8-prefill"]["llm-d.ai/role"] == "prefill"
    for name in ("qwen3-235b-a22b-fp8-server", "qwen3-235b-a22b-fp8-prefill"):
        strategy = _deployments(big_run)[name]["spec"]["strategy"]
        assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}


def test_dashboards_split_queue_kv_and_ttft_by_role(big_run):
    board = json.loads(next(c for c in big_run.objects("ConfigMap") if c["metadata"]["name"] == "maas-models-dashboard")["data"]["maas-models.json"])
    panels = {p["title"]: [t["expr"] for t in p["targets"]] for p in board["panels"]}
    for title in ("Queue depth", "KV-cache use", "Time to first token"):
        assert all("role" in expr for expr in panels[title] if "vllm:" in expr), title
    assert any("llm_d_epp_disagg_decision_total" in expr for expr in panels["Prefill/decode decisions /s"])


# Schemas and policies ------------------------------------------------------------------------


@schema_check.needs_crds
def test_every_object_of_the_example_is_valid(big_run):
    config = load_config(stack_config("prod"))
    crds = schema_check.catalog(schema_check.crds_dir(), schema_check.crd_pins(config.versions))
    problems = schema_check.validate_all(big_run.objects(), crds)
    problems.pop("unchecked", None)
    assert problems == {}


def test_the_policy_pack_checks_prefill_pods_too(big_run):
    prefill = _deployments(big_run)["qwen3-235b-a22b-fp8-prefill"]
    assert pack.gpu_violations(DEPLOYMENT, prefill) == []
    short = json.loads(json.dumps(prefill))
    short["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "1"
    short["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] = "1"
    assert any("--tensor-parallel-size 2 but it gets 1 GPUs" in p for p in pack.gpu_violations(DEPLOYMENT, short))
    resources = [(DEPLOYMENT if o["kind"] == "Deployment" else f"kubernetes:{o['apiVersion']}:{o['kind']}", o)
                 for o in big_run.objects() if o["kind"] in ("Deployment", "NetworkPolicy", "InferencePool")]  # fmt: skip
    assert pack.isolation_violations(resources) == []
    unguarded = [(t, o) for t, o in resources if o["metadata"]["name"] != "qwen3-235b-a22b-fp8-prefill" or t == DEPLOYMENT]
    assert any("qwen3-235b-a22b-fp8-prefill" in p for p in pack.isolation_violations(unguarded))


analyzer = pytest.fixture(scope="module")(serve_policy_pack)


def test_the_prod_example_passes_the_policy_pack(analyzer, big_run):
    assert diagnostics(analyzer, big_run) == []
