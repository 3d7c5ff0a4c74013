"""Benchmark: program evaluation under Pulumi mocks as the catalog grows.

Not a test: run it, then copy the table into the README.

    .venv/bin/python tests/benchmark.py                 # every series, a few minutes
    .venv/bin/python tests/benchmark.py --help          # the size options
    .venv/bin/python tests/benchmark.py --max-names 200 --repeats 1   # a quick look

Four series: names as the issue shapes them (models of 1 base + 19 adapters), the worst case
for object count (one name per model), 100 consumers with keys and budgets in front of a
200-name catalog, and tiers (an objective per tier per pool) in front of the same catalog. Times
are the median of --repeats runs of the real __main__.py; they include the mock monitor's own
bookkeeping. Each run is followed by two floors, the same registrations replayed with no program
logic (`replay`): through the Pulumi SDK's generic resource classes, and through the package
classes the program uses (pulumi_kubernetes' typed classes). Program / floor is what the
program costs on top of each for the same objects.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random  # noqa: F401  (registers its resource classes, which package_class_of looks up)
from pulumi.runtime import rpc

sys.path.insert(0, str(Path(__file__).parent))

from catalogs import catalog_config, consumers, simulator_catalog  # noqa: E402
from harness import SECRET_SIG, SECRET_VALUE_SIG, Registration, StackRun, record, run_program  # noqa: E402

DEFAULT_REPEATS = 3
# (models, adapters per model, consumers, tiers)
SERIES = {
    "20 names per model": [(1, 0, 0, 0), (1, 19, 0, 0), (10, 19, 0, 0), (50, 19, 0, 0)],
    "1 name per model": [(1, 0, 0, 0), (20, 0, 0, 0), (200, 0, 0, 0), (1000, 0, 0, 0)],
    "consumers, 200 names": [(10, 19, 1, 0), (10, 19, 10, 0), (10, 19, 100, 0)],
    "tiers, 200 names": [(10, 19, 10, 1), (10, 19, 10, 4), (10, 19, 10, 16)],
}


def measure(models: int, adapters: int, consumer_count: int, tier_count: int, repeats: int) -> dict:
    catalog = simulator_catalog(models, adapters)
    config = catalog_config(catalog)
    tiers = [{"name": f"tier-{i}", "priority": 10 * (tier_count - i)} for i in range(tier_count)]
    if consumer_count:
        config["maas:consumers"] = json.dumps(
            [{**c, **({"tier": tiers[i % tier_count]["name"]} if tiers else {})} for i, c in enumerate(consumers(consumer_count, catalog))]
        )
    if tiers:
        config["maas:tiers"] = json.dumps(tiers)
    times, sdk_floors, package_floors = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        run = run_program(config)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        replay(run)
        sdk_floors.append(time.perf_counter() - start)
        start = time.perf_counter()
        replay(run, package_classes=True)
        package_floors.append(time.perf_counter() - start)
    objects = len(run.objects())
    seconds = statistics.median(times)
    return {
        "names": models * (1 + adapters),
        "models": models,
        "consumers": consumer_count,
        "objects": objects,
        "registrations": len(run.registrations),
        "seconds": seconds,
        "sdk_floor_seconds": statistics.median(sdk_floors),
        "package_floor_seconds": statistics.median(package_floors),
        "ms_per_object": 1000 * seconds / objects,
    }


def replay(run: StackRun, package_classes: bool = False) -> StackRun:
    """A floor: register exactly what `run` registered (types, names, parents, dependencies,
    protection, aliases, the inputs as plain values, secrets as secrets) under the same mocks,
    with no program logic at all. By default through the Pulumi SDK's own resource classes
    only; with `package_classes`, each object through the class its package gives its type
    (`pulumi_kubernetes.apps.v1.Deployment`, ...), the typed classes the program uses, which
    add their own work per object (type aliases, typed inputs and outputs)."""

    def build() -> None:
        by_urn: dict[str, pulumi.Resource] = {}
        for registration in run.registrations:
            by_urn[registration.urn] = replayed(registration, by_urn, package_classes)

    stack, project = run.registrations[0].urn.split("::")[0:2]
    return record(build, {}, stack=stack.removeprefix("urn:pulumi:"), project=project)


def replayed(registration: Registration, by_urn: dict[str, pulumi.Resource], package_classes: bool) -> pulumi.Resource:
    opts = pulumi.ResourceOptions(
        parent=by_urn.get(registration.parent),
        depends_on=[by_urn[urn] for urn in sorted(registration.dependencies) if urn in by_urn],
        protect=registration.protect,
        retain_on_delete=registration.retain_on_delete,
        aliases=list(registration.aliases),
    )
    inputs = secrets_as_outputs(registration.inputs)
    package_class = package_class_of(registration) if package_classes else None
    if package_class is not None:
        opts.aliases = None  # the class adds the same aliases itself
        return package_class(registration.name, opts=opts, **{snake_case(key): value for key, value in inputs.items()})
    if registration.custom:
        return ReplayedResource(registration.type, registration.name, inputs, opts)
    if registration.remote:
        return ReplayedComponent(registration.type, registration.name, inputs, opts, remote=True)
    return ReplayedComponent(registration.type, registration.name, None, opts)


def package_class_of(registration: Registration) -> Optional[type]:
    """The class a package registered for this type token (as the SDK finds it to rebuild a
    resource reference), or the generic Kubernetes custom resource for a CRD's kind."""
    package, module, _ = registration.type.split(":")
    for resource_module in rpc._RESOURCE_MODULES.get(f"{package}:{module}", []):
        info = getattr(resource_module, "mod_info", {})
        if registration.type in info.get("classes", {}):
            return getattr(importlib.import_module(info["fqn"]), info["classes"][registration.type])
    if registration.custom and package == "kubernetes":
        return k8s.apiextensions.CustomResource
    return None


def snake_case(key: str) -> str:
    """A wire property name as the class's keyword argument (`stringData` -> `string_data`)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


# Every resource class of a Pulumi package has a constructor of its own; the SDK records the
# stack above it as the resource's source (`pulumi.CustomResource` called directly skips that).
class ReplayedResource(pulumi.CustomResource):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)


class ReplayedComponent(pulumi.ComponentResource):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)


def secrets_as_outputs(value):
    """Wire inputs back to SDK inputs: a secret envelope becomes a secret Output."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE_SIG:
            return pulumi.Output.secret(value.get("value"))
        return {key: secrets_as_outputs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [secrets_as_outputs(item) for item in value]
    return value


def shape(text: str) -> tuple[int, int, int, int]:
    """`MODELS,ADAPTERS,CONSUMERS,TIERS`, e.g. `50,19,100,4`."""
    try:
        models, adapters, consumer_count, tier_count = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MODELS,ADAPTERS,CONSUMERS,TIERS, e.g. 50,19,100,4") from None
    if models < 1 or min(adapters, consumer_count, tier_count) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1 model; adapters, consumers and tiers 0 or more")
    return models, adapters, consumer_count, tier_count


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tests/benchmark.py",
        description="Time the real __main__.py under Pulumi mocks as the catalog grows; prints a Markdown table.",
    )
    parser.add_argument(
        "--series", action="append", choices=list(SERIES), metavar="NAME",
        help=f"run only this series (repeatable); one of: {', '.join(repr(name) for name in SERIES)}. Default: all.",
    )
    parser.add_argument(
        "--max-names", type=int, metavar="N",
        help="skip shapes whose catalog has more than N names (models x (1 + adapters)). Default: no limit.",
    )
    parser.add_argument(
        "--shape", action="append", type=shape, metavar="M,A,C,T",
        help="measure this shape instead of the series: M models of 1 base + A adapters, C consumers, T tiers (repeatable).",
    )
    parser.add_argument(
        "--repeats", type=int, default=DEFAULT_REPEATS, metavar="N",
        help=f"runs per shape; the median is reported. Default: {DEFAULT_REPEATS}.",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats: at least 1")
    if args.shape and (args.series or args.max_names is not None):
        parser.error("--shape measures exactly the shapes given; drop --series and --max-names")
    return args


def selected_shapes(args: argparse.Namespace) -> list[tuple[str, tuple[int, int, int, int]]]:
    if args.shape:
        return [("custom", s) for s in args.shape]
    return [
        (series, s)
        for series, shapes in SERIES.items()
        if not args.series or series in args.series
        for s in shapes
        if args.max_names is None or s[0] * (1 + s[1]) <= args.max_names
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)  # the open-gateway warning, once per run
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.repeats} runs each, median\n")
    print(
        "| series | names | models | consumers | tiers | Kubernetes objects | objects per model | registrations "
        "| seconds | ms per object | SDK floor seconds | program / SDK floor | package-class floor seconds "
        "| program / package-class floor |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    objects_without_models()  # also loads every module, which the first timed run would otherwise pay for
    for series, (models, adapters, consumer_count, tier_count) in selected_shapes(args):
        row = measure(models, adapters, consumer_count, tier_count, args.repeats)
        per_model = (row["objects"] - objects_without_models()) / row["models"]
        shown = f"{per_model:.0f}" if not consumer_count else "—"
        print(
            f"| {series} | {row['names']} | {row['models']} | {consumer_count} | {tier_count} | {row['objects']} | {shown} | "
            f"{row['registrations']} | {row['seconds']:.2f} | {row['ms_per_object']:.2f} "
            f"| {row['sdk_floor_seconds']:.2f} | {row['seconds'] / row['sdk_floor_seconds']:.2f} "
            f"| {row['package_floor_seconds']:.2f} | {row['seconds'] / row['package_floor_seconds']:.2f} |"
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
