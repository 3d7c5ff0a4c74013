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
