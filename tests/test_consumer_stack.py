"""examples/consumer: a second Pulumi project that imports llm_maas with its own provider and a
plain-dict catalog, run under mocks as `pulumi up` runs it."""

from __future__ import annotations

import pytest
import yaml

from harness import REPO, run_program
from llm_maas.models import ConfigError, load_catalog

EXAMPLE = REPO / "examples" / "consumer"
PROJECT = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())["name"]
KUBECONFIG = "/home/team/.kube/support.yaml"


@pytest.fixture(scope="module")
def consumer_run():
    return run_program({f"{PROJECT}:kubeconfig": KUBECONFIG}, main=EXAMPLE / "__main__.py", project=PROJECT)


def test_it_is_a_project_of_its_own():
    project = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["name"] != "maas"
    assert "-e ../.." in (EXAMPLE / "requirements.txt").read_text().splitlines()


def test_it_serves_its_own_catalog_and_exports_its_key_as_a_secret(consumer_run):
    assert consumer_run.outputs["models"] == ["Qwen/Qwen3-0.6B", "ticket-triage"]
    assert consumer_run.outputs["endpoint"] == "http://support-gateway.support-gateway.svc.cluster.local"
    assert consumer_run.outputs["helpdeskKey"].startswith("sk-")
    assert "helpdeskKey" in consumer_run.secret_outputs


def test_every_object_goes_to_the_teams_cluster(consumer_run):
    (provider,) = consumer_run.by_type("pulumi:providers:kubernetes")
    assert provider.plain_inputs["kubeconfig"] == KUBECONFIG
    ref = provider.reference
    kubernetes = [r for r in consumer_run.registrations if r.type.startswith("kubernetes:")]
    assert {r.name for r in kubernetes if r.custom and r.provider != ref} == set()
    assert {r.name for r in kubernetes if not r.custom and r.providers.get("kubernetes") != ref} == set()
    namespaces = {o["metadata"].get("namespace") for o in consumer_run.objects()} - {None}
    assert namespaces == {"support-models", "support-gateway"}


def test_protect_given_to_the_component_reaches_every_object(consumer_run):
    under_service = [r for r in consumer_run.registrations if r.type != "pulumi:providers:kubernetes"]
    assert len(under_service) > 30
    assert [r.name for r in under_service if not r.protect] == []


def test_a_plain_dict_catalog_is_validated_like_stack_config():
    with pytest.raises(ConfigError) as caught:
        load_catalog({"models": [{"name": "a", "replica": 2}]})
    message = str(caught.value)
    # Its words and paths are the dict's own: no stack config, no `maas:` prefix.
    assert message.splitlines()[0] == "invalid catalog (1 problem):"
    assert "  - models[0].replica = 2: unknown key 'replica'" in message and "maas:" not in message
    with pytest.raises(ConfigError) as caught:
        load_catalog({"models": [{"name": "a"}], "hfToken": "hf_in_source_code"})
    assert "hfTokenSecret" in str(caught.value) and "hf_in_source_code" not in str(caught.value)
