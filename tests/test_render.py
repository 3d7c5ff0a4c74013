"""GitOps render mode: `maas:renderYamlTo` sends every object through one rendering provider,
and changes nothing else about the stack."""

import pytest

from conftest import FAKE_HF_TOKEN
from harness import run_stack

PROVIDER_TYPE = "pulumi:providers:kubernetes"
RENDER_DIR = "rendered/{stack}"
# Render mode takes the HF token from a Secret the GitOps side manages, never from config.
MANAGED_TOKEN_SECRET = "hub-credentials"


@pytest.fixture(scope="module", params=["dev", "prod"])
def rendered(request, stack_runs):
    stack = request.param
    run = run_stack(
        stack, {"maas:renderYamlTo": RENDER_DIR.format(stack=stack), "maas:hfTokenSecret": MANAGED_TOKEN_SECRET}
    )
    return stack, run, stack_runs[stack]


def _render_provider_ref(run) -> str:
    (provider,) = run.by_type(PROVIDER_TYPE)
    return provider.reference


def test_one_rendering_provider_writes_to_the_configured_directory(rendered):
    stack, run, _ = rendered
    providers = run.by_type(PROVIDER_TYPE)
    assert [p.plain_inputs.get("renderYamlToDirectory") for p in providers] == [RENDER_DIR.format(stack=stack)]


def test_every_kubernetes_resource_goes_through_the_rendering_provider(rendered):
    _, run, _ = rendered
    ref = _render_provider_ref(run)
    kubernetes = [r for r in run.registrations if r.type.startswith("kubernetes:")]
    objects = [r for r in kubernetes if r.custom]
    bundles = [r for r in kubernetes if not r.custom]  # Helm charts and CRD bundles render their children
    assert objects and bundles
    assert {r.name: r.provider for r in objects if r.provider != ref} == {}
    assert {r.name: r.providers.get("kubernetes") for r in bundles if r.providers.get("kubernetes") != ref} == {}


def test_rendering_changes_no_object(rendered):
    _, run, normal = rendered
    token_secret_objects = {
        identity for identity, obj in normal.by_identity().items()
        if isinstance(obj, dict) and obj.get("kind") == "Secret" and "HF_TOKEN" in obj.get("stringData", {})
    }
    expected = {k: v for k, v in normal.by_identity().items() if k not in token_secret_objects}
    actual = run.by_identity()
    assert actual.keys() == expected.keys()
    assert [k for k in actual if actual[k] != expected[k] and not _differs_only_in_token_secret(actual[k], expected[k])] == []


def _differs_only_in_token_secret(actual, expected) -> bool:
    """A vLLM Deployment names the managed Secret instead of the one the stack made."""
    return str(actual).replace(MANAGED_TOKEN_SECRET, "hf-token") == str(expected)


def test_normal_mode_uses_the_stacks_own_cluster(stack):
    _, run = stack
    assert run.by_type(PROVIDER_TYPE) == []
    assert {r.name for r in run.registrations if r.type.startswith("kubernetes:") and (r.provider or r.providers)} == set()


def test_vllm_reads_a_managed_token_secret_and_the_stack_makes_none():
    run = run_stack("prod", {"maas:hfTokenSecret": MANAGED_TOKEN_SECRET})
    assert [s for s in run.objects("Secret") if "HF_TOKEN" in s.get("stringData", {})] == []
    vllm = [d for d in run.objects("Deployment") if d["spec"]["template"]["spec"]["containers"][0]["image"].startswith("vllm/")]
    assert vllm
    for deployment in vllm:
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["hf-token"]["secret"]["secretName"] == MANAGED_TOKEN_SECRET
    assert FAKE_HF_TOKEN not in str(run.registrations)
