"""The policy pack (policy/): each check on objects a user could write, then the whole pack served
the way `pulumi preview --policy-pack policy` runs it (its own process, gRPC on 127.0.0.1) over
every object the real stacks register."""

from __future__ import annotations

import copy
import json
from pathlib import Path
import sys

import pulumi
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2

from harness import REPO, run_stack, stack_config
from policy_host import diagnostics, serve_policy_pack
from llm_maas.components.kube import retain_crds

sys.path.insert(0, str(REPO / "policy"))
import maas_policies as pack  # noqa: E402

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
LWS = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECURE_POD = {"securityContext": {"runAsNonRoot": True}}


def deployment(*containers, pod=None, name="server"):
    return {
        "metadata": {"name": name, "namespace": "llm-d"},
        "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": {**(SECURE_POD if pod is None else pod), "containers": list(containers)}}},
    }


def vllm(gpus=None, limits=None, tp="8", pp=None, image="vllm/vllm-openai:v0.19.1"):
    args = ["--tensor-parallel-size", tp] + (["--pipeline-parallel-size", pp] if pp else [])
    resources = {}
    if gpus is not None:
        resources = {"requests": {"nvidia.com/gpu": gpus}, "limits": {"nvidia.com/gpu": gpus if limits is None else limits}}
    return {"name": "vllm", "image": image, "command": ["vllm", "serve"], "args": args, "resources": resources}


def lws(size, container):
    template = {"metadata": {"labels": {"app": "big"}}, "spec": {**SECURE_POD, "containers": [container]}}
    return {
        "metadata": {"name": "big", "namespace": "llm-d"},
        "spec": {"leaderWorkerTemplate": {"size": size, "leaderTemplate": template, "workerTemplate": template}},
    }


# --- each check, directly ------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource_type, obj, problem",
    [
        (DEPLOYMENT, deployment(vllm(gpus=8)), None),
        (DEPLOYMENT, deployment(vllm(gpus=8, limits=4)), "requests 8 but limits 4"),
        (DEPLOYMENT, deployment(vllm(gpus=4)), "--tensor-parallel-size 8 but it gets 4 GPUs"),
        (DEPLOYMENT, deployment(vllm()), "gets no GPUs"),
        (DEPLOYMENT, deployment(vllm(gpus=8, pp="2")), "--pipeline-parallel-size 2 but the group has 1 pod(s)"),
        (LWS, lws(2, vllm(gpus=8, pp="2")), None),
        (LWS, lws(2, vllm(gpus=8)), "--pipeline-parallel-size 1 but the group has 2 pod(s)"),
        (LWS, lws(2, vllm(gpus=16, pp="2")), "--tensor-parallel-size 8 but it gets 16 GPUs"),
    ],
    ids=["match", "request-not-limit", "fewer-than-tp", "no-gpu", "pp-without-nodes", "lws-2x8", "lws-without-pp", "lws-over-ask"],
)
def test_gpus_match_tensor_parallel_times_nodes(resource_type, obj, problem):
    problems = pack.gpu_violations(resource_type, obj)
    assert (problems == []) if problem is None else any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "image, pinned",
    [
        ("redis:7.4.3-alpine", True),
        ("registry.k8s.io/epp@sha256:" + "a" * 64, True),
        ("localhost:5000/team/vllm:v1", True),
        ("redis", False),
        ("redis:latest", False),
        ("localhost:5000/team/vllm", False),
    ],
)
def test_images_need_a_tag_or_digest(image, pinned):
    problems = pack.image_violations(DEPLOYMENT, deployment({"name": "c", "image": image}))
    assert (problems == []) is pinned, problems


@pytest.mark.parametrize(
    "resource_type, obj, leaks",
    [
        (DEPLOYMENT, deployment({"name": "c", "image": "a:1", "env": [{"name": "HF_TOKEN", "value": "hf_x"}]}), True),
        (DEPLOYMENT, deployment({"name": "c", "image": "a:1", "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}), False),
        (DEPLOYMENT, deployment({"name": "c", "image": "a:1", "env": [{"name": "HF_TOKEN_PATH", "value": "/var/run/secrets/hf/HF_TOKEN"}]}), False),
        (DEPLOYMENT, deployment({"name": "c", "image": "a:1", "args": ["--api-key", "sk-123"]}), True),
        (DEPLOYMENT, deployment({"name": "c", "image": "a:1", "args": ["--api-key=sk-123"]}), True),
        (DEPLOYMENT, deployment({"name": "c", "image": "a:1", "args": ["--api-key-file", "/keys/k"]}), False),
        (CONFIG_MAP, {"metadata": {"name": "cfg"}, "data": {"redis_password": "x"}}, True),
        (CONFIG_MAP, {"metadata": {"name": "cfg"}, "data": {"redis.conf": "port 6379"}}, False),
    ],
    ids=["env-literal", "env-from-secret", "env-path", "flag-value", "flag-inline", "flag-file", "configmap-key", "configmap-plain"],
)
def test_credentials_stay_in_secrets(resource_type, obj, leaks):
    assert bool(pack.credential_violations(resource_type, obj)) is leaks


def _transformed(type_token, props):
    result = retain_crds(pulumi.ResourceTransformArgs(True, type_token, "x", props, pulumi.ResourceOptions()))
    return (props, None) if result is None else (result.props, result.opts)


def test_the_stacks_crd_transform_is_what_the_crd_policy_accepts():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "scaledobjects.keda.sh"}}
    assert pack.crd_retention_violations(pack.CRD_TYPE, crd), "an unmarked CRD must be refused"
    props, opts = _transformed(pack.CRD_TYPE, crd)
    assert pack.crd_retention_violations(pack.CRD_TYPE, props) == []
    assert opts.retain_on_delete is True
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "keda-operator"}}
    assert _transformed("kubernetes:core/v1:Service", service) == (service, None)


def test_every_crd_bundle_and_add_on_chart_registers_the_retaining_transform(stack):
    _, run = stack
    bundles = [r for r in run.registrations if r.type in pack.ADD_ON_INSTALLERS]
    without = {r.name for r in bundles if retain_crds not in r.transforms}
    # The agentgateway control-plane chart ships no CRDs (its own -crds chart does).
    assert without == {"maas-gateway-agentgateway"}
    assert len(bundles) > len(without)


@pytest.mark.parametrize(
    "urn, allowed",
    [
        ("urn:pulumi:dev::maas::maas:index:ModelService$maas:index:Keda$kubernetes:helm.sh/v4:Chart$"
         "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole::maas-keda-chart:keda-operator", True),
        ("urn:pulumi:dev::maas::maas:index:ModelService$kubernetes:rbac.authorization.k8s.io/v1:ClusterRole::reader", False),
    ],
)
def test_cluster_rbac_only_from_add_on_installs(urn, allowed):
    type_token = urn.split("::")[2].split("$")[-1]
    assert (pack.cluster_rbac_violations(type_token, urn) == []) is allowed


@pytest.mark.parametrize(
    "obj, exemptions, runs_as_root",
    [
        (deployment({"name": "c", "image": "a:1"}), {}, False),
        (deployment({"name": "c", "image": "a:1"}, pod={}), {}, True),
        (deployment({"name": "c", "image": "a:1", "securityContext": {"runAsNonRoot": True}}, pod={}), {}, False),
        (deployment({"name": "c", "image": "a:1", "securityContext": {"runAsUser": 0}}), {}, True),
        (deployment({"name": "c", "image": "a:1"}, pod={}), {"llm-d/server": "image needs root to load drivers"}, False),
    ],
    ids=["pod-level", "unset", "container-level", "uid-0", "documented-exemption"],
)
def test_pods_run_as_non_root_unless_documented(obj, exemptions, runs_as_root):
    assert bool(pack.root_violations(DEPLOYMENT, obj, exemptions)) is runs_as_root


def _kubernetes_objects(run):
    return [(r.type, r.plain_inputs) for r in run.registrations if r.is_kubernetes_object]


def test_a_model_server_without_its_network_policy_is_caught(stack_runs):
    resources = _kubernetes_objects(stack_runs["prod"])
    assert pack.isolation_violations(resources) == []
    pools = {o["metadata"]["name"] for t, o in resources if t == pack.INFERENCE_POOL_TYPE}
    pool_selectors = [o["spec"]["selector"]["matchLabels"] for t, o in resources if t == pack.INFERENCE_POOL_TYPE]

    def guards_a_pool(policy):
        selected = policy["spec"]["podSelector"].get("matchLabels") or {}
        return any(all(s.get(k) == v for k, v in selected.items()) for s in pool_selectors)

    stripped = [(t, o) for t, o in resources if not (t == pack.NETWORK_POLICY_TYPE and guards_a_pool(o))]
    problems = pack.isolation_violations(stripped)
    assert {pool for pool in pools if any(f"(pool {pool})" in p for p in problems)} == pools
    assert pack.isolation_violations([(t, o) for t, o in resources if t != pack.NETWORK_POLICY_TYPE]) == []


def test_a_vllm_pod_given_other_gpus_than_it_shards_over_is_caught(stack_runs):
    resources = _kubernetes_objects(stack_runs["prod"])
    servers = [o for t, o in resources if t == DEPLOYMENT and pack.gpu_violations(t, o) == []
               and "--tensor-parallel-size" in str(o)]
    assert servers
    broken = copy.deepcopy(servers[0])
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 2
    assert pack.gpu_violations(DEPLOYMENT, broken)


# --- the pack as the CLI runs it ------------------------------------------------------------

analyzer = pytest.fixture(scope="module")(serve_policy_pack)


def test_the_pack_declares_every_policy_as_mandatory(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert {p.name for p in info.policies} == {
        "gpu-requests-match-parallelism", "images-pinned", "credentials-stay-in-secrets", "crds-retained",
        "no-cluster-rbac", "pods-non-root", "model-servers-isolated",
    }
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_the_real_stacks_pass_every_policy(analyzer, stack):
    _, run = stack
    assert diagnostics(analyzer, run) == []


def test_the_pack_stops_what_the_config_allows_but_operators_must_not_ship(analyzer):
    models = json.loads(stack_config("prod")["maas:models"])
    for model in models:
        model["extraArgs"] = [*model.get("extraArgs", []), "--api-key=sk-inline-key"]
    run = run_stack("prod", {"maas:versions": {"vllmImage": "vllm/vllm-openai:latest"}, "maas:models": models})
    found = {(policy, name) for policy, name, _ in diagnostics(analyzer, run)}
    servers = {r.name for r in run.registrations if r.type == DEPLOYMENT and "vllm/vllm-openai:latest" in str(r.inputs)}
    assert servers
    assert found == {(p, s) for p in ("images-pinned", "credentials-stay-in-secrets") for s in servers}


def test_the_installed_library_ships_the_pack_and_says_where_it_is():
    """`python -m llm_maas.policy --path` names a folder the CLI can run as a pack: a stack that
    installed llm-maas passes it to `pulumi preview --policy-pack`. Every file the CLI needs there
    besides Python modules is package data, so a wheel carries it too."""
    import subprocess
    import tomllib

    done = subprocess.run([sys.executable, "-m", "llm_maas.policy", "--path"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pack = Path(done.stdout.strip())
    assert {"PulumiPolicy.yaml", "requirements.txt", "__main__.py", "maas_policies.py"} <= {p.name for p in pack.iterdir()}
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "llm_maas.policy" in setuptools["packages"] and setuptools["package-dir"]["llm_maas.policy"] == "policy"
    data = {p.name for p in (REPO / "policy").iterdir() if p.is_file() and p.suffix != ".py"}
    assert data == set(setuptools["package-data"]["llm_maas.policy"])
