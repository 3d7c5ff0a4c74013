"""Both real stack files, run end to end through __main__.py under mocks."""

import json

import pytest

from conftest import key_for_every_model
from gateway_sim import GatewaySimulator, epp_flag
from harness import stack_config
from llm_maas.models import load_config

MODEL_NOT_FOUND = "model_not_found"


def _config(name):
    return load_config(stack_config(name))


def _simulator(run, name):
    gateway = _config(name).gateway
    return GatewaySimulator(run.objects(), gateway.name, gateway.namespace)


def _chat(model):
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()


def test_every_served_name_reaches_a_pool_whose_pods_serve_it(stack):
    name, run = stack
    config = _config(name)
    gateway = _simulator(run, name)
    assert run.outputs["servedNames"] == config.served_names
    for model in config.models:
        for served in model.served_names:
            outcome = gateway.request(_chat(served), key_for_every_model(run, name))
            assert outcome.status == 200, f"{served}: {outcome}"
            assert outcome.pool_name == model.pool_name
            assert outcome.pods, f"{served}: pool {outcome.pool_name} selects no pods"
            for pods in outcome.pods:
                assert served in pods.served_names, f"{served} routed to pods serving {pods.served_names}"
            # The pool's endpoint picker is its own, watching this very pool.
            picker = outcome.pool["spec"]["endpointPickerRef"]
            assert outcome.epp_service["metadata"]["name"] == picker["name"]
            assert picker["port"]["number"] in [p["port"] for p in outcome.epp_service["spec"]["ports"]]
            assert epp_flag(outcome.epp_deployment, "--pool-name") == model.pool_name
            assert epp_flag(outcome.epp_deployment, "--pool-namespace") == config.namespace


@pytest.mark.parametrize(
    "body, headers",
    [
        (_chat("no-such-model"), {}),
        (json.dumps({"messages": []}).encode(), {}),
        (b"this is not json", {}),
        # A client trying to steer with the routing header itself.
        (_chat("no-such-model"), {"X-Gateway-Model-Name": "Qwen/Qwen3-32B"}),
        (json.dumps({"messages": []}).encode(), {"X-Gateway-Model-Name": "Qwen/Qwen3-0.6B"}),
    ],
    ids=["unknown-model", "no-model", "not-json", "smuggled-header-unknown-model", "smuggled-header-no-model"],
)
def test_requests_for_no_served_model_get_an_openai_style_404(stack, body, headers):
    name, run = stack
    outcome = _simulator(run, name).request(body, {**key_for_every_model(run, name), **headers})
    assert outcome.pool is None
    assert outcome.status == 404
    assert outcome.response_headers.get("content-type") == "application/json"
    error = json.loads(outcome.body)["error"]
    assert error["code"] == MODEL_NOT_FOUND and error["type"] == "invalid_request_error"


def test_gpu_outputs_add_up_what_the_deployments_and_autoscalers_request(stack):
    """`gpus`, `gpusAtMin` and `gpusAtMax` are what the server pods request, at the fixed replica
    counts or at the bounds of each model's ScaledObject."""
    name, run = stack
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o["spec"] for o in run.objects("ScaledObject")}
    at_min = at_max = 0
    for deployment in run.objects("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            resources = container.get("resources", {})
            gpus = int(resources.get("requests", {}).get("nvidia.com/gpu", 0))
            assert gpus == int(resources.get("limits", {}).get("nvidia.com/gpu", 0))
            bounds = scaled.get(deployment["metadata"]["name"])
            assert (bounds is None) == ("replicas" in deployment["spec"])
            low, high = (bounds["minReplicaCount"], bounds["maxReplicaCount"]) if bounds else (deployment["spec"]["replicas"],) * 2
            at_min, at_max = at_min + low * gpus, at_max + high * gpus
    assert (run.outputs["gpusAtMin"], run.outputs["gpusAtMax"]) == (at_min, at_max)
    # No model sets replicas beside its autoscaling, so the configured count is the minimum.
    assert run.outputs["gpus"] == at_min
    assert (name == "prod") == (at_max > at_min > 0)


CRD_INSTALLS = {
    "gateway.networking.k8s.io": "maas-gateway-gateway-api-crds",
    "inference.networking.k8s.io": "maas-gateway-inference-extension-crds",
    "agentgateway.dev": "maas-gateway-agentgateway-crds",
    "llm-d.ai": "maas-gateway-llm-d-router-crds",
}


def test_custom_resources_wait_for_their_crds(stack):
    name, run = stack
    config = _config(name)
    urns = {r.name: r.urn for r in run.registrations}
    checked: dict[str, int] = {}
    for registration in run.registrations:
        if not registration.is_kubernetes_object:
            continue
        group = registration.plain_inputs["apiVersion"].split("/")[0]
        if group not in CRD_INSTALLS:
            continue
        install = CRD_INSTALLS[group]
        if group == "gateway.networking.k8s.io" and config.gateway_api_crds == "platform":
            assert install not in urns, "OpenShift owns the Gateway API CRDs; the stack must not install them"
            continue
        assert urns[install] in registration.dependencies, f"{registration.name} does not wait for {install}"
        checked[group] = checked.get(group, 0) + 1
    assert checked["inference.networking.k8s.io"] == len(config.models)
    assert checked["llm-d.ai"] == len(config.models) * len(config.tiers) > 0  # an objective per tier per pool
    assert checked["agentgateway.dev"] >= len(config.models) + 3  # backends, parameters and gateway policies


def test_model_servers_wait_for_nothing_slow(stack):
    name, run = stack
    by_urn = run.by_urn()
    servers = run.by_type("maas:index:ModelServer")
    assert len(servers) == len(_config(name).workloads)  # a disaggregated model's prefill pods too
    for server in servers:
        assert not server.dependencies
        for registration in run.registrations:
            if registration.parent != server.urn:
                continue
            kinds = {by_urn[d].type for d in registration.dependencies}
            assert kinds <= {"kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret"}, (registration.name, kinds)


def test_crd_installs_are_retained_on_destroy(stack):
    _, run = stack
    installs = [r for r in run.registrations if r.name in CRD_INSTALLS.values()]
    assert installs and all(r.retain_on_delete for r in installs)


def test_charts_and_bundles_are_pinned_to_the_configured_versions(stack):
    """Charts and YAML bundles are not expanded under mocks, so their inputs are the contract."""
    name, run = stack
    versions = _config(name).versions
    charts = {r.name: r.plain_inputs for r in run.by_type("kubernetes:helm.sh/v4:Chart")}
    control_plane = charts["maas-gateway-agentgateway"]
    assert control_plane["chart"] == "oci://cr.agentgateway.dev/charts/agentgateway"
    assert control_plane["version"] == versions.agentgateway == "v1.4.1"
    assert control_plane["values"]["inferenceExtension"]["enabled"] is True
    assert control_plane["namespace"] == "agentgateway-system"
    assert charts["maas-gateway-agentgateway-crds"]["chart"] == "oci://cr.agentgateway.dev/charts/agentgateway-crds"
    bundles = {r.name: r.plain_inputs["file"] for r in run.by_type("kubernetes:yaml/v2:ConfigFile")}
    assert bundles["maas-gateway-inference-extension-crds"] == (
        "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/v1.6.0/manifests.yaml"
    )
    # The router's CRDs, on OpenShift too: the platform ships neither.
    (router,) = run.by_type("kubernetes:yaml/v2:ConfigGroup")
    assert router.name == "maas-gateway-llm-d-router-crds"
    assert router.plain_inputs["files"] == [
        "https://raw.githubusercontent.com/llm-d/llm-d-router/v0.10.0/config/crd/bases/llm-d.ai_inferenceobjectives.yaml",
        "https://raw.githubusercontent.com/llm-d/llm-d-router/v0.10.0/config/crd/bases/llm-d.ai_inferencemodelrewrites.yaml",
    ]
    if name == "dev":
        assert bundles["maas-gateway-gateway-api-crds"] == (
            "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml"
        )
    else:
        assert "maas-gateway-gateway-api-crds" not in bundles


def test_each_picker_starts_after_the_objective_crds_it_looks_for_once(stack):
    _, run = stack
    router_crds = next(r.urn for r in run.registrations if r.name == CRD_INSTALLS["llm-d.ai"])
    pickers = [r for r in run.registrations if r.is_kubernetes_object and r.plain_inputs["kind"] == "Deployment"
               and r.plain_inputs["metadata"]["name"].endswith("-epp")]  # fmt: skip
    assert pickers and all(router_crds in picker.dependencies for picker in pickers)


def test_control_plane_waits_for_every_crd_it_serves(stack):
    _, run = stack
    chart = next(r for r in run.registrations if r.name == "maas-gateway-agentgateway")
    installs = {r.urn for r in run.registrations if r.name in CRD_INSTALLS.values()}
    assert installs <= chart.dependencies


def test_pool_selectors_derive_from_the_pool_name_only():
    """Image, replicas and args changes must never touch an (immutable) selector."""
    from harness import run_stack

    base = run_stack("dev")
    changed_models = json.loads(stack_config("dev")["maas:models"])
    for model in changed_models:
        model.update(replicas=2, image="ghcr.io/llm-d/llm-d-inference-sim:v0.10.0", extraArgs=["--mode", "echo"])
    changed = run_stack("dev", overrides={"maas:models": changed_models})

    def selectors(run):
        pools = {p["metadata"]["name"]: p["spec"]["selector"] for p in run.objects("InferencePool")}
        deployments = {d["metadata"]["name"]: d["spec"]["selector"] for d in run.objects("Deployment")}
        return pools, deployments

    assert selectors(base) == selectors(changed)
    assert base.objects("Deployment") != changed.objects("Deployment")


def _moved_route(run, namespace, backend_namespace=None):
    """The dev objects with qwen3-32b's HTTPRoute moved to another namespace."""
    import copy

    objects = copy.deepcopy(run.objects())
    route = next(o for o in objects if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "qwen3-32b")
    route["metadata"]["namespace"] = namespace
    if backend_namespace:
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                ref["namespace"] = backend_namespace
    return objects


def test_listener_ignores_routes_from_namespaces_it_does_not_allow(stack_runs):
    objects = _moved_route(stack_runs["dev"], "someone-else", backend_namespace="llm-d")
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "someone-else"}})
    key = key_for_every_model(stack_runs["dev"], "dev")
    outcome = GatewaySimulator(objects, "inference-gateway", "agentgateway-system").request(_chat("Qwen/Qwen3-32B"), key)
    assert outcome.pool is None and outcome.status == 404


def test_a_cross_namespace_backend_needs_a_reference_grant(stack_runs):
    objects = _moved_route(stack_runs["dev"], "agentgateway-system", backend_namespace="llm-d")
    gateway = GatewaySimulator(objects, "inference-gateway", "agentgateway-system")
    key = key_for_every_model(stack_runs["dev"], "dev")
    assert gateway.request(_chat("Qwen/Qwen3-32B"), key).pool is None
    objects.append(
        {
            "apiVersion": "gateway.networking.k8s.io/v1beta1",
            "kind": "ReferenceGrant",
            "metadata": {"name": "routes-to-pools", "namespace": "llm-d"},
            "spec": {
                "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "agentgateway-system"}],
                "to": [{"group": "agentgateway.dev", "kind": "AgentgatewayBackend"}],
            },
        }
    )
    granted = GatewaySimulator(objects, "inference-gateway", "agentgateway-system")
    assert granted.request(_chat("Qwen/Qwen3-32B"), key).pool_name == "qwen3-32b"
