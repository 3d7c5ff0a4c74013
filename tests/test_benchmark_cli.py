"""The benchmark's command line: `--help` answers at once, and the size options bound the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).parent / "benchmark.py"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARK), *args], capture_output=True, text=True, timeout=timeout)


def test_help_prints_the_options_and_runs_nothing():
    result = run("--help", timeout=20)
    assert result.returncode == 0
    for option in ("--series", "--max-names", "--shape", "--repeats"):
        assert option in result.stdout
    assert "| series |" not in result.stdout


def test_one_small_shape_measures_exactly_that_shape():
    result = run("--shape", "2,1,3,1", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| custom |")]
    assert len(rows) == 1
    names, models, consumers, tiers = rows[0].split("|")[2:6]
    assert (names.strip(), models.strip(), consumers.strip(), tiers.strip()) == ("4", "2", "3", "1")


def test_max_names_drops_the_larger_shapes_of_a_series():
    result = run("--series", "1 name per model", "--max-names", "1", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 1 name per model |")]
    assert len(rows) == 1 and rows[0].split("|")[2].strip() == "1"


def test_a_bad_shape_is_refused_with_the_expected_form():
    result = run("--shape", "ten", timeout=20)
    assert result.returncode == 2
    assert "MODELS,ADAPTERS,CONSUMERS,TIERS" in result.stderr


def test_the_floor_replays_exactly_what_the_program_registered():
    """The SDK floor is only a floor for the same work: every registration of the dev stack
    (secrets, charts, aliases, retained CRDs included) comes back identical from the replay."""
    sys.path.insert(0, str(BENCHMARK.parent))
    from benchmark import replay
    from harness import run_stack

    def identities(run):
        return {
            r.urn: (r.type, r.parent, r.custom, r.remote, r.inputs, sorted(r.dependencies), r.protect,
                    r.retain_on_delete, sorted(r.aliases))
            for r in run.registrations
        }  # fmt: skip

    program = run_stack("dev", secrets={"maas:hfToken": "hf_test"})
    for package_classes in (False, True):
        floor = replay(program, package_classes)
        assert len(floor.registrations) == len(program.registrations)
        assert identities(floor) == identities(program), package_classes
        assert any(r.aliases for r in floor.registrations) and any(r.remote for r in floor.registrations)


def test_each_row_reports_the_floor_beside_the_program():
    result = run("--shape", "1,0,0,0", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("| series |"))
    row = next(line for line in result.stdout.splitlines() if line.startswith("| custom |"))
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    seconds = float(cells["seconds"])
    half_cent = 0.005  # seconds are printed to two decimals
    for floor_name in ("SDK floor", "package-class floor"):
        floor, ratio = float(cells[f"{floor_name} seconds"]), float(cells[f"program / {floor_name}"])
        assert floor > 0 and (seconds - half_cent) / (floor + half_cent) <= ratio <= (seconds + half_cent) / (floor - half_cent)
