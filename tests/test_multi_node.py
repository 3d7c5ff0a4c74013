"""Models bigger than one node: the README's prod example (a 2 x 8 GPU model beside the guide's
small ones), followed through the gateway, the NetworkPolicies, the real LWS CRD and the policy
pack."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

import schema_check
from conftest import FAKE_HF_TOKEN
from gateway_sim import LWS_WORKER_INDEX_LABEL, GatewaySimulator, pods_of
from harness import REPO, run_stack, stack_config
from llm_maas.models import ConfigError, load_config
from netpol import Pod, ingress_allowed
from policy_host import diagnostics, serve_policy_pack

sys.path.insert(0, str(REPO / "policy"))
import maas_policies as pack  # noqa: E402

BIG = "deepseek-ai/DeepSeek-R1"
NCCL_PORT = 43817  # any port NCCL might pick
VLLM_RENDEZVOUS = 29501


def readme_example() -> dict:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Models bigger than one node", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


def with_example(stack: str = "prod", **extra) -> dict:
    example = readme_example()
    models = json.loads(stack_config(stack)["maas:models"]) + example["maas:models"]
    return {"maas:models": models, "maas:gpuBudget": example["maas:gpuBudget"], **extra}


@pytest.fixture(scope="module")
def big_run():
    return run_stack("prod", with_example(), secrets={"maas:hfToken": FAKE_HF_TOKEN})


@pytest.fixture(scope="module")
def big_set(big_run):
    (lws,) = big_run.objects("LeaderWorkerSet")
    return lws


def _flags(container) -> dict[str, str]:
    argv = container["args"]
    return {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a.startswith("--") and not argv[i + 1].startswith("--")}


def test_a_multi_node_model_is_one_leader_worker_set_and_the_rest_stay_deployments(big_run, big_set):
    config = load_config(stack_config("prod"))
    assert big_set["metadata"]["name"] == "deepseek-r1-server"
    assert big_set["spec"]["leaderWorkerTemplate"]["size"] == 2
    assert big_set["spec"]["replicas"] == 1
    servers = {d["metadata"]["name"] for d in big_run.objects("Deployment") if "-server" in d["metadata"]["name"]}
    assert servers == {m.server_name for m in config.models}


def test_every_pod_shards_over_its_node_and_the_group_pipelines_across_nodes(big_set):
    group = big_set["spec"]["leaderWorkerTemplate"]
    leader = group["leaderTemplate"]["spec"]["containers"][0]
    worker = group["workerTemplate"]["spec"]["containers"][0]
    for container in (leader, worker):
        flags = _flags(container)
        assert container["command"] == ["vllm", "serve"]
        assert flags["--tensor-parallel-size"] == "8" and flags["--pipeline-parallel-size"] == "2"
        assert flags["--nnodes"] == "2" and flags["--master-addr"] == "$(LWS_LEADER_ADDRESS)"
        assert flags["--distributed-executor-backend"] == "mp"
        assert container["resources"]["requests"]["nvidia.com/gpu"] == container["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert _flags(leader)["--node-rank"] == "0" and "--headless" not in leader["args"]
    assert _flags(worker)["--node-rank"] == "$(LWS_WORKER_INDEX)" and "--headless" in worker["args"]
    assert "startupProbe" in leader and "readinessProbe" in leader and leader["ports"]
    assert not any(k in worker for k in ("startupProbe", "readinessProbe", "livenessProbe", "ports"))
    assert group["restartPolicy"] == "RecreateGroupOnPodRestart"


def test_every_group_member_gets_shm_token_cache_and_gpu_toleration(big_set):
    group = big_set["spec"]["leaderWorkerTemplate"]
    for template in (group["leaderTemplate"], group["workerTemplate"]):
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Gi"}
        assert volumes["cache"]["emptyDir"]["sizeLimit"] == "1000Gi"
        assert "hf-token" in volumes
        assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_the_gateway_reaches_leaders_only(big_run, big_set):
    gateway = load_config(stack_config("prod")).gateway
    simulator = GatewaySimulator(big_run.objects(), gateway.name, gateway.namespace)
    key = big_run.outputs["apiKeys"]["data-science"]
    body = json.dumps({"model": BIG, "messages": [{"role": "user", "content": "hi"}]}).encode()
    outcome = simulator.request(body, {"Authorization": f"Bearer {key}"})
    assert outcome.pool["metadata"]["name"] == "deepseek-r1"
    roles = [p.deployment["spec"]["template"]["metadata"]["labels"][LWS_WORKER_INDEX_LABEL] for p in outcome.pods]
    assert roles == ["0"]
    assert all(BIG in p.served_names for p in outcome.pods)
    worker_pods = [p for p in pods_of(big_set) if p["spec"]["template"]["metadata"]["labels"][LWS_WORKER_INDEX_LABEL] != "0"]
    assert worker_pods and not any(p in [o.deployment for o in outcome.pods] for p in worker_pods)


def test_group_members_talk_on_any_port_and_nothing_else_reaches_a_worker(big_run, big_set):
    objects = big_run.objects()
    leader, worker = (
        Pod("llm-d", p["spec"]["template"]["metadata"]["labels"]) for p in pods_of(big_set)
    )
    gateway_pod = Pod("agentgateway-system", {"gateway.networking.k8s.io/gateway-name": "inference-gateway"})
    other_model = next(
        Pod("llm-d", d["spec"]["template"]["metadata"]["labels"]) for d in big_run.objects("Deployment")
        if d["metadata"]["name"] == "qwen3-06b-server"
    )
    assert ingress_allowed(objects, worker, leader, VLLM_RENDEZVOUS)
    assert ingress_allowed(objects, leader, worker, NCCL_PORT)
    assert ingress_allowed(objects, gateway_pod, leader, 8000)
    assert not ingress_allowed(objects, gateway_pod, worker, 8000)
    assert not ingress_allowed(objects, other_model, worker, NCCL_PORT)
    assert not ingress_allowed(objects, other_model, leader, VLLM_RENDEZVOUS)


def test_gpu_outputs_count_every_pod_of_every_group(big_run):
    total = 0
    for workload in big_run.objects("Deployment") + big_run.objects("LeaderWorkerSet"):
        for pod in pods_of(workload):
            for container in pod["spec"]["template"]["spec"]["containers"]:
                total += workload["spec"].get("replicas", 1) * int(container["resources"]["limits"].get("nvidia.com/gpu", 0))
    assert total == big_run.outputs["gpus"] == 2 * 8 + load_config(stack_config("prod")).total_gpus


def test_the_budget_counts_nodes():
    example = with_example()
    with pytest.raises(ConfigError) as caught:
        load_config({**stack_config("prod"), "maas:models": json.dumps(example["maas:models"]), "maas:gpuBudget": "20"})
    assert "maas:gpuBudget = 20" in str(caught.value) and "deepseek-ai/DeepSeek-R1 16" in str(caught.value)


@schema_check.needs_crds
def test_the_leader_worker_set_is_valid_against_the_real_crd(big_run):
    config = load_config(stack_config("prod"))
    crds = schema_check.catalog(schema_check.crds_dir(), schema_check.crd_pins(config.versions))
    (lws,) = big_run.objects("LeaderWorkerSet")
    assert crds.knows(lws)
    assert crds.validate(lws) == []


def test_the_policy_pack_accepts_the_group_and_refuses_a_wrong_pipeline(big_set):
    lws_type = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
    assert pack.gpu_violations(lws_type, big_set) == []
    grown = json.loads(json.dumps(big_set))
    grown["spec"]["leaderWorkerTemplate"]["size"] = 3
    assert any("--pipeline-parallel-size 2 but the group has 3 pod(s)" in p for p in pack.gpu_violations(lws_type, grown))


def test_nodes_one_is_the_deployment_of_before(stack_runs):
    models = json.loads(stack_config("prod")["maas:models"])
    explicit = run_stack("prod", {"maas:models": [{**m, "nodes": 1} for m in models]}, secrets={"maas:hfToken": FAKE_HF_TOKEN})
    assert explicit.by_identity() == stack_runs["prod"].by_identity()


def test_an_autoscaled_group_is_scaled_by_keda_through_the_set():
    example = readme_example()["maas:models"][0]
    run = run_stack(
        "prod",
        {
            "maas:models": json.loads(stack_config("prod")["maas:models"])
            + [{**example, "autoscaling": {"minReplicas": 1, "maxReplicas": 2}}],
            "maas:gpuBudget": 40,
        },
    )
    (lws,) = run.objects("LeaderWorkerSet")
    assert "replicas" not in lws["spec"]
    target = next(s["spec"]["scaleTargetRef"] for s in run.objects("ScaledObject") if s["metadata"]["name"] == "deepseek-r1-server")
    assert target == {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "deepseek-r1-server"}
    prod = load_config(stack_config("prod"))
    assert run.outputs["gpusAtMin"] == prod.gpus_at_min + 16
    assert run.outputs["gpusAtMax"] == prod.gpus_at_max + 2 * 16


def test_installing_the_controller_puts_its_chart_before_every_set():
    run = run_stack("dev", {
        "maas:leaderWorkerSet": {"install": True},
        "maas:models": [{"name": BIG, "tensorParallel": 8, "nodes": 2}],
        "maas:consumers": [],
    })
    (chart,) = [r for r in run.by_type("kubernetes:helm.sh/v4:Chart") if r.name.endswith("-lws")]
    assert chart.plain_inputs["chart"] == "oci://registry.k8s.io/lws/charts/lws"
    assert chart.plain_inputs["version"] == "0.10.0"
    (lws,) = [r for r in run.registrations if r.type == "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"]
    assert chart.urn in lws.dependencies
    (policy,) = [o for o in run.objects("NetworkPolicy") if o["metadata"]["namespace"] == "lws-system"]
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9443}]}]


analyzer = pytest.fixture(scope="module")(serve_policy_pack)


def test_the_prod_example_passes_the_policy_pack(analyzer, big_run):
    assert diagnostics(analyzer, big_run) == []
