"""The GitHub workflow: valid for GitHub (its workflow schema, as check-jsonschema vendors it),
running exactly the commands the README lists, actions pinned, prod behind its environment."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
from check_jsonschema.builtin_schemas import get_builtin_schema
from check_jsonschema.parsers.yaml import construct_yaml_implementation, impl2loader

from harness import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
PULUMI_ACTION = "pulumi/actions"
README_SECTION = "## Pull requests and deployments"


def load(path: Path) -> dict:
    """As GitHub reads it: YAML 1.2, so `on:` stays a key (PyYAML would make it True)."""
    with open(path, "rb") as stream:
        return impl2loader(construct_yaml_implementation(), construct_yaml_implementation(pure=True))(stream)


def readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split(README_SECTION, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def command_of(step: dict) -> list[str]:
    """What a step runs, as shell commands; a pulumi/actions step as the CLI command it runs."""
    if step.get("uses", "").startswith(PULUMI_ACTION + "@"):
        inputs = step.get("with", {})
        if "command" not in inputs:
            return []  # installs the CLI only
        packs = "".join(f" --policy-pack {p}" for p in str(inputs.get("policyPacks", "")).split() if p)
        return [f"pulumi {inputs['command']} --stack {inputs['stack-name']}{packs}"]
    return [line.strip() for line in step.get("run", "").splitlines() if line.strip()]


def steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, job, step


@pytest.fixture(scope="module", params=WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def workflow(request):
    return request.param, load(request.param)


def test_there_is_a_workflow():
    assert WORKFLOWS


def test_the_workflow_is_valid_for_github(workflow):
    _, document = workflow
    schema = get_builtin_schema("vendor.github-workflows")
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)] == []


def test_the_schema_check_rejects_a_broken_workflow(workflow):
    _, document = workflow
    schema = get_builtin_schema("vendor.github-workflows")
    broken = {**document, "jobs": {"test": {**document["jobs"]["test"], "runs_on": "ubuntu-24.04"}}}
    broken["jobs"]["test"].pop("runs-on")
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_the_workflow_runs_exactly_the_readme_commands():
    run = [command for path in WORKFLOWS for _, _, step in steps(load(path)) for command in command_of(step)]
    readme = readme_commands()
    assert "make test" in readme
    assert [c for c in readme if c not in run] == []
    pulumi_commands = [c for c in run if c.startswith("pulumi ") and c.split()[1] in ("preview", "up", "destroy")]
    assert sorted(pulumi_commands) == sorted(c for c in readme if c.startswith("pulumi "))


def test_pull_requests_preview_every_stack_and_comment(workflow):
    _, document = workflow
    previews = {
        step["with"]["stack-name"]: (job, step)
        for _, job, step in steps(document)
        if step.get("uses", "").startswith(PULUMI_ACTION + "@") and step.get("with", {}).get("command") == "preview"
    }
    stacks = {p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml")}
    assert set(previews) == stacks
    for job, step in previews.values():
        assert step["with"]["comment-on-pr"] is True
        assert "pull_request" in job["if"]
        assert job["permissions"]["pull-requests"] == "write"


def test_prod_changes_only_through_the_protected_environment(workflow):
    _, document = workflow
    updates = [
        (job, step) for _, job, step in steps(document)
        if step.get("uses", "").startswith(PULUMI_ACTION + "@") and step.get("with", {}).get("command") in ("up", "destroy")
    ]
    assert updates
    for job, step in updates:
        assert "refs/heads/main" in job["if"]
        if step["with"]["stack-name"] == "prod":
            assert job["environment"] == "prod"
        else:
            assert "environment" not in job


def test_every_action_is_pinned_to_a_commit_with_its_release_named(workflow):
    path, _ = workflow
    uses = [line.strip() for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert uses
    for line in uses:
        assert re.fullmatch(r"(- )?uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def test_credentials_come_from_settings_never_from_the_file(workflow):
    path, document = workflow
    for _, job, step in steps(document):
        for name, value in {**job.get("env", {}), **step.get("env", {})}.items():
            if re.search(r"TOKEN|PASSPHRASE|KUBECONFIG", name):
                assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", str(value)), (name, value)
    assert not re.search(r"(pul-[0-9a-f]{20,}|ghp_\w{20,})", path.read_text())
