"""Least privilege, pod hardening, safe rollouts and what survives a destroy."""

import json
import re

import pytest
import yaml

from catalogs import catalog_config
from conftest import key_for_every_model
from gateway_sim import GatewaySimulator
from harness import REPO, run_program, run_stack, stack_config
from netpol import Pod, ingress_allowed

DATA_PLANE = Pod("agentgateway-system", {"gateway.networking.k8s.io/gateway-name": "inference-gateway"})


def _pods(run, suffix):
    return {
        d["metadata"]["name"]: Pod(d["metadata"]["namespace"], d["spec"]["template"]["metadata"]["labels"])
        for d in run.objects("Deployment")
        if d["metadata"]["name"].endswith(suffix)
    }


def test_only_the_gateway_and_the_pools_own_epp_reach_model_servers(stack):
    _, run = stack
    objects = run.objects()
    servers, pickers = _pods(run, "-server"), _pods(run, "-epp")
    assert servers and len(pickers) == len(servers)
    strangers = [Pod("llm-d", {"app": "curious"}), Pod("default", {}), Pod("agentgateway-system", {"app": "other"})]
    for server_name, server in servers.items():
        pool = server_name.removesuffix("-server")
        assert ingress_allowed(objects, DATA_PLANE, server, 8000)
        assert ingress_allowed(objects, pickers[f"{pool}-epp"], server, 8000)  # metrics scrape
        for picker_name, picker in pickers.items():
            if picker_name != f"{pool}-epp":
                assert not ingress_allowed(objects, picker, server, 8000)
        for stranger in strangers:
            assert not ingress_allowed(objects, stranger, server, 8000)
        assert not ingress_allowed(objects, DATA_PLANE, server, 9999)
    for picker in pickers.values():
        assert ingress_allowed(objects, DATA_PLANE, picker, 9002)
        assert not ingress_allowed(objects, DATA_PLANE, picker, 9090)
        for stranger in strangers + list(servers.values()):
            assert not ingress_allowed(objects, stranger, picker, 9002)


def test_network_policies_can_be_switched_off():
    run = run_stack("dev", overrides={"maas:networkPolicies": False})
    assert run.objects("NetworkPolicy") == []


# The non-root UID each runs as: the distroless images' nonroot user, and for nginx, Redis and vLLM a UID
# of 10000 or more rather than their images' own 101, 999 and root, any of which could match a node's users.
IMAGE_USERS = {"epp": 65532, "simulator": 65532, "ratelimit": 65532, "nginx": 10101, "redis": 10999, "vllm": 11000}
# Images whose writable paths are known and mounted run with a read-only root filesystem (vLLM
# writes compile caches and temp files in places no list covers).
READ_ONLY_ROOT = {"epp", "simulator", "ratelimit", "nginx", "redis"}


@pytest.mark.parametrize("platform_stack", ["dev", "prod"])
def test_pods_run_unprivileged(stack_runs, platform_stack):
    run = stack_runs[platform_stack]
    seen = set()
    for deployment in run.objects("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert security.get("readOnlyRootFilesystem", False) == (container["name"] in READ_ONLY_ROOT)
            if container["name"] in IMAGE_USERS:
                seen.add(container["name"])
                assert pod["securityContext"]["runAsNonRoot"] is True
                # OpenShift's restricted-v2 SCC picks the UID itself.
                expected = None if platform_stack == "prod" else IMAGE_USERS[container["name"]]
                assert pod["securityContext"].get("runAsUser") == expected
        # Only the EPP talks to the Kubernetes API; no other pod mounts a token.
        if pod["containers"][0]["name"] != "epp":
            assert pod["automountServiceAccountToken"] is False, deployment["metadata"]["name"]
    assert seen >= {"epp", "ratelimit", "nginx", "redis", "simulator" if platform_stack == "dev" else "vllm"}


def _server(run, name):
    return next(d for d in run.objects("Deployment") if d["metadata"]["name"] == name)


def _pdbs(run):
    """Model servers' disruption budgets."""
    return {p["metadata"]["name"]: p for p in run.objects("PodDisruptionBudget") if p["metadata"]["name"].endswith("-server")}


def test_a_lone_gpu_replica_is_recreated_instead_of_waiting_for_a_spare_gpu(stack_runs):
    run = stack_runs["prod"]
    assert _server(run, "tinyllama-11b-server")["spec"]["strategy"] == {"type": "Recreate"}
    assert "tinyllama-11b-server" not in _pdbs(run)  # a one-pod budget would block node drains forever


def test_replicated_models_keep_serving_through_updates_and_drains():
    models = json.loads(stack_config("prod")["maas:models"])
    models[1]["replicas"] = 2
    run = run_stack("prod", overrides={"maas:models": models})
    strategy = _server(run, "tinyllama-11b-server")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    budget = _pdbs(run)["tinyllama-11b-server"]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == _server(run, "tinyllama-11b-server")["spec"]["selector"]["matchLabels"]


def test_simulators_roll_without_downtime(stack_runs):
    strategy = _server(stack_runs["dev"], "qwen3-32b-server")["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_an_hour_long_model_load_does_not_fail_pulumi_up(stack_runs):
    for deployment in stack_runs["prod"].objects("Deployment"):
        if deployment["metadata"]["name"].endswith("-server"):
            startup = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
            probe_budget = startup["periodSeconds"] * startup["failureThreshold"]
            assert probe_budget >= 3600
            assert int(deployment["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) > probe_budget


def test_persistent_weight_cache_is_retained_and_never_blocks_the_rollout():
    models = [{"name": "Qwen/Qwen3-0.6B", "cacheStorageClass": "fast-rwx", "cacheAccessMode": "ReadWriteMany", "replicas": 2}]
    run = run_program(catalog_config(models))
    (claim,) = run.objects("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and claim["spec"]["storageClassName"] == "fast-rwx"
    assert claim["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert run.registration_of(claim).retain_on_delete
    volumes = _server(run, "qwen3-06b-server")["spec"]["template"]["spec"]["volumes"]
    cache = next(v for v in volumes if v["name"] == "cache")
    assert cache == {"name": "cache", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}


def test_crds_are_retained_always_and_protected_on_request(stack_runs):
    installs = ("maas-gateway-inference-extension-crds", "maas-gateway-agentgateway-crds")
    for registration in stack_runs["dev"].registrations:
        if registration.name in installs:
            assert registration.retain_on_delete and not registration.protect
    protected = run_stack("dev", overrides={"maas:protectCrds": True})
    flags = {r.name: r.protect for r in protected.registrations if r.name.endswith("-crds")}
    assert flags and all(flags.values())
    assert not any(r.protect for r in protected.registrations if not r.name.endswith("-crds"))


def test_an_oversized_body_never_reaches_a_pool(stack_runs):
    run = stack_runs["dev"]
    gateway = GatewaySimulator(run.objects(), "inference-gateway", "agentgateway-system")
    prompt = "x" * (3 * 1024 * 1024)  # past agentgateway's 2 MiB default body buffer
    body = json.dumps({"model": "Qwen/Qwen3-32B", "messages": [{"role": "user", "content": prompt}]}).encode()
    outcome = gateway.request(body, key_for_every_model(run, "dev"))
    assert outcome.pool is None and outcome.status == 404
    assert json.loads(outcome.body)["error"]["code"] == "model_not_found"


def test_every_image_the_stack_runs_can_be_pinned_by_digest():
    """Setting each `versions.*Image` to `repo:tag@sha256:<digest>` pins every container the stack
    itself creates (charts pin theirs by chart version)."""
    import hashlib

    from llm_maas.models import Versions

    def pinned(image: str) -> str:
        return f"{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"

    defaults = Versions()
    images = {field.alias: pinned(getattr(defaults, name)) for name, field in Versions.model_fields.items() if name.endswith("_image")}
    assert len(images) >= 6
    # dev runs simulators; a vLLM model shows the vLLM pin.
    models = json.loads(stack_config("dev")["maas:models"]) + [{"name": "Qwen/Qwen3-0.6B"}]
    run = run_stack("dev", overrides={"maas:versions": images, "maas:models": models})
    running = {
        c["image"]
        for d in run.objects("Deployment")
        for key in ("initContainers", "containers")
        for c in d["spec"]["template"]["spec"].get(key, [])
    }
    assert running == set(images.values())


def test_every_scanner_exception_has_its_reason_in_the_readme(stack):
    """Findings kept on purpose: annotations on objects and .checkov.yaml. Each is in the README's
    table of scanner exceptions, and each annotation carries its own reason."""
    _, run = stack
    kept = set(yaml.safe_load((REPO / ".checkov.yaml").read_text())["skip-check"])
    for obj in run.objects():
        for key, value in (obj["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert len(reason) > 20, (obj["metadata"]["name"], value)
                kept.add(check)
    table = (REPO / "README.md").read_text().split("**Third-party scanners.**", 1)[1].split("\n\n**", 1)[0]
    documented = set(re.findall(r"^\| `(CKV_K8S_\d+)`", table, re.M))
    assert kept and kept <= documented, kept - documented
