"""Benchmark: program evaluation under Pulumi mocks as the catalog grows.

Not a test: run it, then copy the table into the README.

    .venv/bin/python tests/benchmark.py

Four series: names as the issue shapes them (models of 1 base + 19 adapters), the worst case
for object count (one name per model), 100 consumers with keys and budgets in front of a
200-name catalog, and tiers (an objective per tier per pool) in front of the same catalog. Times are the median of REPEATS runs of the real
__main__.py; they include the mock monitor's own bookkeeping.
"""

from __future__ import annotations

import logging
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import json  # noqa: E402

from catalogs import catalog_config, consumers, simulator_catalog  # noqa: E402
from harness import run_program  # noqa: E402

REPEATS = 3
# (models, adapters per model, consumers, tiers)
SERIES = {
    "20 names per model": [(1, 0, 0, 0), (1, 19, 0, 0), (10, 19, 0, 0), (50, 19, 0, 0)],
    "1 name per model": [(1, 0, 0, 0), (20, 0, 0, 0), (200, 0, 0, 0), (1000, 0, 0, 0)],
    "consumers, 200 names": [(10, 19, 1, 0), (10, 19, 10, 0), (10, 19, 100, 0)],
    "tiers, 200 names": [(10, 19, 10, 1), (10, 19, 10, 4), (10, 19, 10, 16)],
}


def measure(models: int, adapters: int, consumer_count: int, tier_count: int) -> dict:
    catalog = simulator_catalog(models, adapters)
    config = catalog_config(catalog)
    tiers = [{"name": f"tier-{i}", "priority": 10 * (tier_count - i)} for i in range(tier_count)]
    if consumer_count:
        config["maas:consumers"] = json.dumps(
            [{**c, **({"tier": tiers[i % tier_count]["name"]} if tiers else {})} for i, c in enumerate(consumers(consumer_count, catalog))]
        )
    if tiers:
        config["maas:tiers"] = json.dumps(tiers)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run = run_program(config)
        times.append(time.perf_counter() - start)
    objects = len(run.objects())
    seconds = statistics.median(times)
    return {
        "names": models * (1 + adapters),
        "models": models,
        "consumers": consumer_count,
        "objects": objects,
        "registrations": len(run.registrations),
        "seconds": seconds,
        "ms_per_object": 1000 * seconds / objects,
    }


def main() -> None:
    logging.getLogger().setLevel(logging.ERROR)  # the open-gateway warning, once per run
    print(f"Python {platform.python_version()} on {platform.machine()}, {REPEATS} runs each, median\n")
    print(
        "| series | names | models | consumers | tiers | Kubernetes objects | objects per model | registrations "
        "| seconds | ms per object |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for series, shapes in SERIES.items():
        for models, adapters, consumer_count, tier_count in shapes:
            row = measure(models, adapters, consumer_count, tier_count)
            per_model = (row["objects"] - objects_without_models()) / row["models"]
            shown = f"{per_model:.0f}" if not consumer_count else "—"
            print(
                f"| {series} | {row['names']} | {row['models']} | {consumer_count} | {tier_count} | {row['objects']} | {shown} | "
                f"{row['registrations']} | {row['seconds']:.2f} | {row['ms_per_object']:.2f} |"
            )


_FIXED: list[int] = []


def objects_without_models() -> int:
    """Objects the gateway side creates whatever the catalog (measured: 2 models minus 1)."""
    if not _FIXED:
        one = len(run_program(catalog_config(simulator_catalog(1, 0))).objects())
        two = len(run_program(catalog_config(simulator_catalog(2, 0))).objects())
        _FIXED.append(one - (two - one))
    return _FIXED[0]


if __name__ == "__main__":
    main()
