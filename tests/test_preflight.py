"""`make preview`, `make up` and `make smoke` on a machine without the CLI, with an old one, or
without a stack: each says what is missing and what to run, and never prints a traceback.
A fake `pulumi` on a PATH of the test's own stands in for the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import REPO

PREFLIGHT = REPO / "scripts" / "preflight.py"


def fake_pulumi(bin_dir: Path, version: str, stacks: str = "[]") -> None:
    script = bin_dir / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$1" in version) echo "v{version}";; stack) echo \'{stacks}\';; *) exit 9;; esac\n'
    )
    script.chmod(0o755)


def _env(bin_dir: Path, home: Path) -> dict[str, str]:
    # Only the test's bin, and the system's basics (no user-installed pulumi, kubectl or ~/.pulumi).
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def _preflight(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, str(PREFLIGHT), *args], capture_output=True, text=True, timeout=60,
                          env=_env(bin_dir, tmp_path))  # fmt: skip


def test_no_cli_says_how_to_get_one(tmp_path):
    done = _preflight(tmp_path, "--stack", "dev")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "the Pulumi CLI is not on PATH" in done.stderr and "make dev" in done.stderr


@pytest.mark.parametrize("version", ["3.186.0", "3.100.2"])
def test_a_cli_older_than_3_187_is_refused_with_the_upgrade(tmp_path, version):
    (tmp_path / "bin").mkdir()
    fake_pulumi(tmp_path / "bin", version)
    done = _preflight(tmp_path, "--cli")
    assert done.returncode == 2
    assert f"Pulumi CLI {version} is older than 3.187.0" in done.stderr and "pulumi self-update" in done.stderr


def test_no_stack_yet_says_make_dev(tmp_path):
    (tmp_path / "bin").mkdir()
    fake_pulumi(tmp_path / "bin", "3.187.0", '[{"name": "prod"}]')
    done = _preflight(tmp_path, "--stack", "dev")
    assert done.returncode == 2 and "there is no dev stack yet: run `make dev` first" in done.stderr


def test_everything_there_passes(tmp_path):
    (tmp_path / "bin").mkdir()
    fake_pulumi(tmp_path / "bin", "3.272.0", '[{"name": "organization/maas/dev", "current": true}]')
    kubeconfig = tmp_path / "kube.yaml"
    kubeconfig.write_text("apiVersion: v1\n")
    (tmp_path / "bin" / "kubectl").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "kubectl").chmod(0o755)
    done = _preflight(tmp_path, "--stack", "dev", "--tool", "kubectl", "--file", str(kubeconfig))
    assert done.returncode == 0, done.stderr


def _make(tmp_path: Path, target: str, bin_dir: Path) -> subprocess.CompletedProcess:
    venv = tmp_path / "venv"
    venv.mkdir(exist_ok=True)
    (venv / "installed").touch()  # newer than pyproject.toml: make builds no virtualenv here
    return subprocess.run(["make", "-s", "-C", str(REPO), target, f"VENV={venv}", f"PYTHON={sys.executable}"],
                          capture_output=True, text=True, timeout=60, env=_env(bin_dir, tmp_path))  # fmt: skip


@pytest.mark.parametrize("target", ["preview", "up", "smoke"])
def test_stack_commands_without_a_cli_say_what_to_do(tmp_path, target):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    done = _make(tmp_path, target, bin_dir)
    assert done.returncode != 0
    assert "the Pulumi CLI is not on PATH" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "not found" not in done.stderr


@pytest.mark.parametrize("target", ["preview", "smoke"])
def test_stack_commands_before_make_dev_say_run_make_dev(tmp_path, target):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_pulumi(bin_dir, "3.272.0")
    done = _make(tmp_path, target, bin_dir)
    assert done.returncode != 0 and "run `make dev` first" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "JSONDecodeError" not in done.stderr


def test_make_dev_installs_the_pinned_cli_the_workflow_uses():
    makefile = (REPO / "Makefile").read_text()
    workflow = (REPO / ".github" / "workflows" / "pulumi.yml").read_text()
    pinned = next(line.split("?=")[1].strip() for line in makefile.splitlines() if line.startswith("PULUMI_VERSION"))
    assert f"PULUMI_VERSION: {pinned}" in workflow
    assert tuple(map(int, pinned.split("."))) >= (3, 187, 0)
    assert os.access(PREFLIGHT, os.R_OK)


def test_the_readme_minimum_is_the_one_checked(tmp_path):
    readme = (REPO / "README.md").read_text()
    stated = re.search(r"\| Pulumi CLI \|[^|]*\| \*\*(\d+\.\d+\.\d+) or newer\*\* \|", readme)
    assert stated, "README's prerequisites table names the minimum Pulumi CLI"
    major, minor, patch = (int(part) for part in stated.group(1).split("."))
    # Just below the README's minimum is refused; the minimum itself passes.
    for version, refused in ((f"{major}.{minor - 1}.{patch}", True), (stated.group(1), False)):
        machine = tmp_path / version
        (machine / "bin").mkdir(parents=True)
        fake_pulumi(machine / "bin", version)
        done = _preflight(machine, "--cli")
        assert (done.returncode == 2) is refused, (version, done.stderr)
