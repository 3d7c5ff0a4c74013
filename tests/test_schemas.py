"""Every object the stacks would apply passes the real API schemas, CEL rules included."""

import copy

import pytest

import k8s_semantics
import schema_check
from harness import stack_config
from llm_maas.models import load_config

CRDS = schema_check.crds_dir()


def catalog_for(config):
    return schema_check.catalog(CRDS, schema_check.crd_pins(config.versions))


@schema_check.needs_crds
def test_every_object_of_each_stack_is_valid(stack):
    name, run = stack
    problems = schema_check.validate_all(run.objects(), catalog_for(load_config(stack_config(name))))
    unchecked = problems.pop("unchecked", [])
    assert problems == {}
    # Only OpenShift's Route has no schema here; its fields are asserted in test_components.
    assert unchecked == (["route.openshift.io/v1 Route agentgateway-system/inference-gateway"] if name == "prod" else [])


@pytest.fixture(scope="module")
def dev_objects(stack_runs):
    return {(o["kind"], o["metadata"]["name"]): o for o in stack_runs["dev"].objects()}


@pytest.fixture(scope="module")
def dev_crds():
    return catalog_for(load_config(stack_config("dev")))


def _three_full_rules(route):
    """3 rules x 64 matches: each rule is legal, the route (192 matches) is not."""
    template = route["spec"]["rules"][0]
    route["spec"]["rules"] = [
        {**template, "name": f"r{r}", "matches": [
            {**template["matches"][0], "headers": [{**template["matches"][0]["headers"][0], "value": f"m{r}-{i}"}]}
            for i in range(64)
        ]}
        for r in range(3)
    ]


def _broken(objects, key, change):
    obj = copy.deepcopy(objects[key])
    change(obj)
    return obj


@schema_check.needs_crds
@pytest.mark.parametrize(
    "key, change, expected",
    [
        (("HTTPRoute", "qwen3-32b"), lambda o: o["spec"].update(hostname="x"), "unknown field .spec.hostname"),
        (("InferencePool", "qwen3-32b"), lambda o: o["spec"]["endpointPickerRef"].pop("port"), "port is required"),
        (("InferenceObjective", "qwen3-32b.batch"), lambda o: o["spec"].pop("poolRef"), "'poolRef' is a required property"),
        (
            ("AgentgatewayPolicy", "inference-gateway-model-routing"),
            lambda o: o["spec"]["traffic"].update(directResponse={"status": 404}),
            "phase PreRouting only supports",
        ),
        (("HTTPRoute", "qwen3-32b"), lambda o: _three_full_rules(o), "the total number of matches across all rules"),
        (
            ("Gateway", "inference-gateway"),
            lambda o: o["spec"]["listeners"].append(copy.deepcopy(o["spec"]["listeners"][0])),
            "Listener name must be unique within the Gateway",
        ),
    ],
    ids=["unknown-field", "cel-after-defaults", "required", "prerouting-direct-response", "route-match-cap", "listener-names"],
)
def test_the_checker_rejects_what_the_api_server_would(dev_objects, dev_crds, key, change, expected):
    errors = dev_crds.validate(_broken(dev_objects, key, change), schema_check.CelReport())
    assert any(expected in error for error in errors), errors


def test_builtin_kinds_are_checked_strictly(dev_objects):
    deployment = _broken(dev_objects, ("Deployment", "qwen3-32b-epp"), lambda o: o["spec"].update(replica=2))
    assert any("replica" in error for error in schema_check.validate_builtin(deployment))
    service = _broken(dev_objects, ("Service", "qwen3-32b-epp"), lambda o: o["spec"]["ports"][0].update(port="x"))
    assert schema_check.validate_builtin(service)


def test_names_and_labels_follow_kubernetes_syntax(dev_objects):
    bad_label = _broken(dev_objects, ("ConfigMap", "qwen3-32b-epp"), lambda o: o["metadata"]["labels"].update(x="a b"))
    bad_name = _broken(dev_objects, ("Service", "qwen3-32b-epp"), lambda o: o["metadata"].update(name="9-epp"))
    assert k8s_semantics.object_problems(bad_label) and k8s_semantics.object_problems(bad_name)
    assert k8s_semantics.object_problems(dev_objects[("ConfigMap", "qwen3-32b-epp")]) == []


def test_missing_crd_folder_is_an_error_not_a_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CRDs for gaie v9.9.9"):
        schema_check.CrdCatalog(tmp_path, {"gaie": "v9.9.9"})
