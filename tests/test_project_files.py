"""The project files a user edits or installs agree with the models and with each other."""

import subprocess
import sys
from pathlib import Path

import yaml

from harness import REPO, stack_config
from llm_maas.models import load_config
from llm_maas.models.schema import pulumi_config_schema


def test_pulumi_yaml_declares_exactly_what_the_models_accept():
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == "maas"
    assert project["runtime"]["name"] == "python"
    assert project["config"] == pulumi_config_schema(), "regenerate with: python -m llm_maas.models.schema"


def test_stack_files_set_only_known_keys_and_no_plaintext_secrets():
    for stack in ("dev", "prod"):
        values = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert "maas:hfToken" not in values or "secure" in values["maas:hfToken"]
        assert load_config(stack_config(stack)).models  # unknown keys would raise


def test_prod_is_the_openshift_guide_and_dev_the_kind_guide():
    dev, prod = load_config(stack_config("dev")), load_config(stack_config("prod"))
    assert {m.name: [a.name for a in m.adapters] for m in dev.models} == {
        "Qwen/Qwen3-32B": ["food-review-1"],
        "deepseek/DeepSeek-r1": ["ski-resorts", "movie-critique"],
    }
    assert {m.server for m in dev.models} == {"simulator"}
    assert [m.name for m in prod.models] == ["Qwen/Qwen3-0.6B", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"]
    assert {m.server for m in prod.models} == {"vllm"}
    assert (prod.platform, prod.gateway_api_crds) == ("openshift", "platform")


def test_package_installs_under_a_name_that_cannot_collide():
    import llm_maas.components
    import llm_maas.models

    assert Path(llm_maas.components.__file__).parent == REPO / "components"
    assert Path(llm_maas.models.__file__).parent == REPO / "models"
    probe = "import importlib.util as u; print(u.find_spec('components'), u.find_spec('models'))"
    neutral = subprocess.run([sys.executable, "-c", probe], cwd="/", capture_output=True, text=True, check=True)
    assert neutral.stdout.split() == ["None", "None"]


def test_pulumi_installs_the_project_itself():
    assert (REPO / "requirements.txt").read_text().split() == ["-e", "."]


def test_the_dev_stack_can_only_reach_the_kind_cluster_make_dev_creates():
    import re

    makefile = (REPO / "Makefile").read_text()
    cluster = re.search(r"^KIND_CLUSTER \?= (\S+)$", makefile, re.MULTILINE).group(1)
    kubeconfig = re.search(r"export KUBECONFIG=\$\(CURDIR\)/(\S+)", makefile).group(1)
    config = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]
    assert config["kubernetes:kubeconfig"] == kubeconfig.replace("$(KIND_CLUSTER)", cluster) == ".kube/maas.yaml"
    assert config["kubernetes:context"] == f"kind-{cluster}"
    # Every stack command of the Makefile runs with that kubeconfig and the local backend.
    for target in ("dev", "preview", "up", "smoke"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
        assert "$(DEV_ENV)" in recipe, target
