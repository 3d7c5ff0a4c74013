"""What each component puts on the cluster, checked as the pods and the gateway would see it."""

import json

import pytest

from conftest import FAKE_HF_TOKEN
from gateway_sim import lora_modules
from harness import SECRET_SIG, run_program, run_stack, stack_config


def _container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _flag_values(argv, flag):
    start = argv.index(flag) + 1
    end = next((i for i in range(start, len(argv)) if argv[i].startswith("--")), len(argv))
    return argv[start:end]


LORA_CATALOG = [
    {
        "name": "meta-llama/Llama-3.1-8B-Instruct",
        "tensorParallel": 2,
        "replicas": 2,
        "maxModelLen": 4096,
        "maxLoraRank": 64,
        "adapters": [{"name": "sql-expert", "source": "org/sql-lora"}, {"name": "poet", "source": "/adapters/poet"}],
        "startupMinutes": 90,
        "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
    }
]


@pytest.fixture(scope="module")
def lora_run():
    return run_program(
        {"maas:models": json.dumps(LORA_CATALOG), "maas:hfToken": FAKE_HF_TOKEN}, secret_keys=["maas:hfToken"]
    )


def test_vllm_server_uses_its_gpus_and_serves_its_adapters(lora_run):
    (deployment,) = [d for d in lora_run.objects("Deployment") if d["metadata"]["name"].endswith("-server")]
    container = _container(deployment)
    argv = container["args"]
    assert container["command"] == ["vllm", "serve"]
    assert argv[0] == "meta-llama/Llama-3.1-8B-Instruct"
    assert _flag_values(argv, "--served-model-name") == ["meta-llama/Llama-3.1-8B-Instruct"]
    assert _flag_values(argv, "--tensor-parallel-size") == ["2"]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2" == container["resources"]["limits"]["nvidia.com/gpu"]
    assert _flag_values(argv, "--max-model-len") == ["4096"]
    assert "--enable-lora" in argv and _flag_values(argv, "--max-lora-rank") == ["64"]
    assert lora_modules(_flag_values(argv, "--lora-modules")) == {"sql-expert": "org/sql-lora", "poet": "/adapters/poet"}
    assert deployment["spec"]["replicas"] == 2
    assert lora_run.outputs["gpus"] == 4


def test_vllm_pod_survives_a_long_load_and_reads_the_token_from_a_secret_file(lora_run):
    (deployment,) = [d for d in lora_run.objects("Deployment") if d["metadata"]["name"].endswith("-server")]
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 90 * 60
    assert int(deployment["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) >= 90 * 60
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    assert pod["enableServiceLinks"] is False
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
    assert "/cache" in mounts
    assert {"name": "HF_HOME", "value": "/cache/huggingface"} in container["env"]
    # The token is a read-only file huggingface_hub finds through HF_TOKEN_PATH, never an env var.
    (secret,) = lora_run.objects("Secret")
    assert not [e for e in container["env"] if "valueFrom" in e or e["name"] == "HF_TOKEN"]
    token_path = next(e["value"] for e in container["env"] if e["name"] == "HF_TOKEN_PATH")
    directory, file_name = token_path.rsplit("/", 1)
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    assert mount["readOnly"] is True
    source = volumes[mount["name"]]["secret"]
    assert source["secretName"] == secret["metadata"]["name"]
    assert source["items"] == [{"key": "HF_TOKEN", "path": file_name}] and source["defaultMode"] == 0o440
    # Non-root with its claims writable by its group, on plain Kubernetes as on OpenShift.
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    assert deployment["spec"]["template"]["metadata"]["labels"]["inference.networking.k8s.io/engine-type"] == "vllm"


def test_hf_token_is_a_secret_on_the_wire_and_nowhere_in_plaintext(stack):
    name, run = stack
    secrets = [r for r in run.registrations if r.type == "kubernetes:core/v1:Secret" and r.name == "maas-hf-token"]
    # Only vLLM downloads weights; a simulator-only stack keeps no token on the cluster.
    assert len(secrets) == (1 if name == "prod" else 0)
    for registration in secrets:
        assert registration.inputs["stringData"][SECRET_SIG]
        assert registration.plain_inputs["stringData"] == {"HF_TOKEN": FAKE_HF_TOKEN}
    for registration in run.registrations:
        wire = json.dumps(_without_secret_envelopes(registration.inputs))
        assert FAKE_HF_TOKEN not in wire, registration.name
    assert FAKE_HF_TOKEN not in json.dumps(run.outputs)


def _without_secret_envelopes(value):
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: _without_secret_envelopes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secret_envelopes(v) for v in value]
    return value


def test_simulators_speak_json_lora_and_name_their_pod(stack_runs):
    run = stack_runs["dev"]
    deployment = next(d for d in run.objects("Deployment") if d["metadata"]["name"] == "deepseek-r1-server")
    container = _container(deployment)
    argv = container["args"]
    # Clients' name is served; the simulated model's name is no Hugging Face repo (a Hub
    # repo name would make v0.8.2 wait for a tokenizer sidecar, and exit without one), and no
    # legacy unnamespaced Hub model ends in "-simulator".
    assert _flag_values(argv, "--served-model-name") == ["deepseek/DeepSeek-r1"]
    for simulator in (d for d in run.objects("Deployment") if _container(d)["name"] == "simulator"):
        (simulated,) = _flag_values(_container(simulator)["args"], "--model")
        assert "/" not in simulated and simulated.endswith("-simulator")
    assert [json.loads(a) for a in _flag_values(argv, "--lora-modules")] == [
        {"name": "ski-resorts"},
        {"name": "movie-critique"},
    ]
    assert _flag_values(argv, "--max-loras") == ["2"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    assert "nvidia.com/gpu" not in json.dumps(container["resources"])
    assert container["image"] == "ghcr.io/llm-d/llm-d-inference-sim:v0.8.2"


def test_routes_attach_across_namespaces_without_a_patch_or_grant(stack):
    """Routes need no grant; the one ReferenceGrant lets the model routes' budget policy reach
    the budget service in the gateway namespace."""
    _, run = stack
    gateway = run.objects("Gateway")[0]
    listener = gateway["spec"]["listeners"][0]
    allowed = listener["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"][0]["values"]
    for route in run.objects("HTTPRoute"):
        (parent,) = route["spec"]["parentRefs"]
        assert (parent["name"], parent["namespace"]) == (gateway["metadata"]["name"], gateway["metadata"]["namespace"])
        assert route["metadata"]["namespace"] in allowed
        for rule in route["spec"]["rules"]:
            for backend in rule.get("backendRefs", []):
                assert "namespace" not in backend  # backends live beside their routes: no ReferenceGrant
                if backend.get("kind") == "AgentgatewayBackend":  # the model routes
                    assert "request" in rule["timeouts"]
    (grant,) = run.objects("ReferenceGrant")
    assert grant["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert grant["spec"] == {
        "from": [{"group": "agentgateway.dev", "kind": "AgentgatewayPolicy", "namespace": "llm-d"}],
        "to": [{"group": "", "kind": "Service", "name": "inference-gateway-ratelimit"}],
    }


def test_each_model_route_ends_requests_at_the_models_own_timeout_and_openshift_at_the_longest():
    models = json.loads(stack_config("prod")["maas:models"])
    models[1]["requestTimeout"] = "1h30m"
    run = run_stack("prod", overrides={"maas:models": models})
    timeouts = {r["metadata"]["name"]: {rule["timeouts"]["request"] for rule in r["spec"]["rules"]}
                for r in run.objects("HTTPRoute") if r["metadata"]["namespace"] == "llm-d"}  # fmt: skip
    assert timeouts == {"qwen3-06b": {"300s"}, "tinyllama-11b": {"1h30m"}}
    (route,) = run.objects("Route")
    assert route["metadata"]["annotations"]["haproxy.router.openshift.io/timeout"] == "5400s"
    # dev's reasoning model streams for up to 20 minutes.
    dev = {r["metadata"]["name"]: r for r in run_stack("dev").objects("HTTPRoute")}
    assert dev["deepseek-r1"]["spec"]["rules"][0]["timeouts"]["request"] == "20m"


def test_openshift_gets_the_scc_binding_and_a_tls_edge_route(stack_runs):
    run = stack_runs["prod"]
    (binding,) = [b for b in run.objects("RoleBinding") if b["roleRef"]["kind"] == "ClusterRole"]
    assert binding["roleRef"]["name"] == "system:openshift:scc:nonroot-v2"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "inference-gateway", "namespace": "agentgateway-system"}]
    (route,) = run.objects("Route")
    assert route["spec"]["tls"]["termination"] == "edge"
    assert route["metadata"]["annotations"]["haproxy.router.openshift.io/timeout"] == "300s"
    assert route["spec"]["to"]["name"] == "inference-gateway"
    assert route["spec"]["port"]["targetPort"] == 8080
    assert run.objects("Gateway")[0]["spec"]["listeners"][0]["port"] == 8080
    assert stack_runs["dev"].objects("Route") == []


def test_gateway_service_type_follows_config(stack_runs):
    for run in stack_runs.values():
        (params,) = run.objects("AgentgatewayParameters")
        assert params["spec"]["service"]["spec"]["type"] == "ClusterIP"
        ref = run.objects("Gateway")[0]["spec"]["infrastructure"]["parametersRef"]
        assert ref["name"] == params["metadata"]["name"]
    lb = run_stack("dev", overrides={"maas:gateway": {}})
    assert lb.objects("AgentgatewayParameters")[0]["spec"]["service"]["spec"]["type"] == "LoadBalancer"


def test_epp_rbac_is_namespaced_and_read_only(stack):
    _, run = stack
    assert run.objects("ClusterRole") == []
    for role in run.objects("Role"):
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
    multi = run_stack("dev", overrides={"maas:epp": {"replicas": 2}})
    verbs = {v for role in multi.objects("Role") for rule in role["rules"] for v in rule["verbs"]}
    assert {"create", "update"} <= verbs  # leases for leader election, only when replicated
    pickers = [d for d in multi.objects("Deployment") if d["metadata"]["name"].endswith("-epp")]
    assert pickers and all("--ha-enable-leader-election" in _container(d)["args"] for d in pickers)
    # Standby replicas are alive but not ready: probes ask the EPP's separate health services.
    for picker in pickers:
        assert _container(picker)["livenessProbe"]["grpc"]["service"] == "liveness"
        assert _container(picker)["readinessProbe"]["grpc"]["service"] == "readiness"
    for picker in run.objects("Deployment"):
        if picker["metadata"]["name"].endswith("-epp"):
            assert _container(picker)["readinessProbe"]["grpc"] == {"port": 9003, "service": "inference-extension"}


def test_every_pool_runs_the_llm_d_routers_picker_as_its_chart_runs_it(stack):
    """Image, flags, probes and RBAC of llm-d-router v0.10.0 (config/charts/routerlib)."""
    _, run = stack
    pickers = [d for d in run.objects("Deployment") if d["metadata"]["name"].endswith("-epp")]
    roles = {r["metadata"]["name"]: r for r in run.objects("Role")}
    assert pickers
    for picker in pickers:
        container = _container(picker)
        assert container["image"] == "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0"
        args = container["args"]
        assert _flag_values(args, "--pool-group") == ["inference.networking.k8s.io"]
        assert _flag_values(args, "--grpc-health-port") == ["9003"] and "--tracing=false" in args
        assert _flag_values(args, "--config-file") == ["/config/config.yaml"]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"grpc": 9002, "grpc-health": 9003, "metrics": 9090}
        assert container["livenessProbe"]["initialDelaySeconds"] == 5
        rules = roles[picker["spec"]["template"]["spec"]["serviceAccountName"]]["rules"]
        watched = {(group, resource) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}
        assert watched == {("", "pods"), ("inference.networking.k8s.io", "inferencepools"),
                           ("llm-d.ai", "inferenceobjectives"), ("llm-d.ai", "inferencemodelrewrites")}  # fmt: skip


def test_epp_restarts_when_its_config_changes(stack_runs):
    """The picker reads its config once at start: a new tier (a new priority band) rolls every
    picker, and nothing else about the pickers changes."""

    def pickers(run):
        return {d["metadata"]["name"]: d for d in run.objects("Deployment") if d["metadata"]["name"].endswith("-epp")}

    before = pickers(stack_runs["dev"])
    tiers = json.loads(stack_config("dev")["maas:tiers"]) + [{"name": "urgent", "priority": 50}]
    after = pickers(run_stack("dev", overrides={"maas:tiers": tiers}))
    assert before.keys() == after.keys() and before
    for name, deployment in before.items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations != after[name]["spec"]["template"]["metadata"]["annotations"]
        assert _container(deployment) == _container(after[name])


def test_url_output(stack_runs):
    assert stack_runs["dev"].outputs["url"] == "http://inference-gateway.agentgateway-system.svc.cluster.local"
    overrides = {"maas:gateway": {"serviceType": "ClusterIP", "route": {"host": "models.apps.example.com"}}}
    prod = run_stack("prod", overrides=overrides)
    assert prod.outputs["url"] == "https://models.apps.example.com"
    assert json.loads(stack_config("prod", overrides)["maas:gateway"])["route"]["host"] == "models.apps.example.com"


def test_options_flow_from_the_component_to_every_object():
    import pulumi

    from harness import record
    from llm_maas.components import ModelService, ModelServiceArgs
    from llm_maas.models import load_config

    config = load_config(stack_config("dev"))
    run = record(lambda: {"url": ModelService("maas", ModelServiceArgs(config), opts=pulumi.ResourceOptions(protect=True)).url}, {})
    objects = [r for r in run.registrations if r.custom]
    assert len(objects) > 20 and all(r.protect for r in objects)
    # Every registration hangs off the component tree, none at the stack root.
    root = [r for r in run.registrations if r.type == "maas:index:ModelService"][0]
    urns = {r.urn for r in run.registrations}
    assert all(r.parent in urns for r in run.registrations if r is not root)
