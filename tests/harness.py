"""Run the real `__main__.py` under Pulumi mocks and record everything it registers.

No CLI, no cluster, no network: the mock monitor answers every registration with the inputs it
was given, and a recording subclass keeps each request's type, parent, dependencies and
options so tests can assert on ordering and protection as well as on the objects themselves.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from llm_maas.models import read_stack_files

REPO = Path(__file__).resolve().parent.parent
MAIN = REPO / "__main__.py"
PROJECT = "maas"
SECRET_SIG = rpc._special_sig_key  # the marker Pulumi puts on secret values on the wire
SECRET_VALUE_SIG = rpc._special_secret_sig
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


def fake_password(name: str, inputs: dict[str, Any]) -> str:
    """A deterministic stand-in for a generated password of the requested length."""
    seed = hashlib.sha256(json.dumps([name, inputs.get("keepers")], sort_keys=True).encode()).hexdigest()
    return (seed * 4)[: int(inputs.get("length", 16))]


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    """Inputs as sent on the wire, secrets still wrapped in Pulumi's secret envelope."""
    dependencies: set[str]
    retain_on_delete: bool
    protect: bool
    provider: str = ""
    """The provider reference (`urn::id`) a custom resource is sent to; empty for the default."""
    providers: dict[str, str] = field(default_factory=dict)
    """Package -> provider reference a component (a Helm chart, a YAML bundle) hands its children."""
    aliases: list[str] = field(default_factory=list)
    """URNs this resource was known by before a rename (its `aliases` option)."""
    remote: bool = False
    """A component implemented by a provider (a Helm chart, a YAML bundle), registered with inputs."""
    transforms: list = field(default_factory=list)
    """The resource's own transforms, which the engine applies to it and to every child it has
    (a chart's or bundle's objects included). Mocks never run them; tests apply them by hand."""

    @property
    def reference(self) -> str:
        """How other registrations name this one as their provider (`urn::id`; mock ids are
        `<name>-id`)."""
        return f"{self.urn}::{self.name}-id"

    @property
    def plain_inputs(self) -> dict[str, Any]:
        return unwrap_secrets(self.inputs)

    @property
    def is_kubernetes_object(self) -> bool:
        """A single Kubernetes object (not a chart or YAML bundle, which are components)."""
        return self.custom and self.type.startswith("kubernetes:")


def unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


class _EchoMocks(pulumi.runtime.Mocks):
    """Answers like an API server that accepts objects as given, and like pulumi-random: a
    password's `result` is new whenever its resource name or keepers change, and stable otherwise."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == RANDOM_PASSWORD:
            return f"{args.name}-id", {**args.inputs, "result": fake_password(args.name, args.inputs)}
        return f"{args.name}-id", args.inputs  # Registration.reference relies on this id scheme

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            dependencies = set(request.dependencies)
            for property_dependencies in request.propertyDependencies.values():
                dependencies |= set(property_dependencies.urns)
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=request.custom,
                    parent=request.parent,
                    inputs=_wire_inputs(request.object),
                    dependencies=dependencies,
                    retain_on_delete=request.retainOnDelete,
                    protect=request.protect,
                    provider=request.provider,
                    providers=dict(request.providers),
                    aliases=[*request.aliasURNs, *(self._alias_urn(request, a) for a in request.aliases)],
                    remote=request.remote,
                    transforms=pulumi_mocks._resolve_callbacks(request.transforms),
                )
            )
        return response


    def _alias_urn(self, request, alias) -> str:
        """The URN an `aliases` entry names: given whole, or as a spec whose empty fields mean
        "as this resource is now"."""
        if alias.urn:
            return alias.urn
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return self.make_urn(parent, spec.type or request.type, spec.name or request.name)


def _wire_inputs(struct) -> dict[str, Any]:
    """The registration's inputs as JSON. Protobuf keeps every number as a double; integral
    ones go back to int, as they are in the JSON the provider sends the API server."""
    from google.protobuf import json_format

    return _integral_numbers(json_format.MessageToDict(struct))


def _integral_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_numbers(v) for v in value]
    return value


@dataclass
class StackRun:
    registrations: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    """Names of the stack outputs that are Pulumi secrets."""

    def objects(self, kind: Optional[str] = None) -> list[dict[str, Any]]:
        """Every Kubernetes object registered, as the manifest the provider would apply."""
        found = [r.plain_inputs for r in self.registrations if r.is_kubernetes_object]
        return [o for o in found if kind is None or o.get("kind") == kind]

    def registration_of(self, obj: dict[str, Any]) -> Registration:
        for r in self.registrations:
            if r.is_kubernetes_object and r.plain_inputs == obj:
                return r
        raise KeyError(obj["metadata"]["name"])

    def by_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def by_identity(self) -> dict[tuple, dict[str, Any]]:
        """Every Kubernetes object by (apiVersion, kind, namespace, name), and every chart,
        bundle and component by (type, name): what a preview compares between two runs."""
        return {
            (o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in self.objects()
        } | {(r.type, r.name): r.plain_inputs for r in self.registrations if not r.custom}

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}


def stack_config(stack: str, overrides: Optional[dict[str, Any]] = None) -> dict[str, str]:
    return read_stack_files(REPO, stack, overrides)


def record(
    build: Callable[[], Any],
    config: dict[str, str],
    secret_keys: Iterable[str] = (),
    stack: str = "test",
    project: str = PROJECT,
) -> StackRun:
    """Run `build` under mocks with `config` set, recording every registration. Exceptions from
    `build` propagate; the run's registrations are then available as `record.last`."""
    monitor = _RecordingMonitor(_EchoMocks())
    pulumi.runtime.set_mocks(_EchoMocks(), project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    run = StackRun(monitor.registrations)
    record.last = run  # type: ignore[attr-defined]

    @pulumi.runtime.test
    def program():
        exports = build() or {}

        async def record_outputs():
            for key, value in exports.items():
                output = pulumi.Output.from_input(value)
                run.outputs[key] = await output.future()
                if await output.is_secret():
                    run.secret_outputs.add(key)

        return pulumi.Output.from_input(record_outputs())

    program()
    return run


def run_program(
    config: dict[str, str],
    secret_keys: Iterable[str] = (),
    stack: str = "test",
    main: Path = MAIN,
    project: str = PROJECT,
) -> StackRun:
    """Run a real Pulumi program (this project's __main__.py unless told otherwise) the way
    `pulumi up` does, from its own directory, and collect its exports."""

    def program():
        exports: dict[str, Any] = {}
        real_export = pulumi.export
        pulumi.export = lambda name, value: exports.__setitem__(name, value)
        try:
            runpy.run_path(str(main))
        finally:
            pulumi.export = real_export
        return exports

    cwd = os.getcwd()
    os.chdir(main.parent)
    try:
        return record(program, config, secret_keys, stack, project)
    finally:
        os.chdir(cwd)


def run_stack(stack: str, overrides: Optional[dict[str, Any]] = None, secrets: Optional[dict[str, str]] = None) -> StackRun:
    config = stack_config(stack, overrides)
    config.update(secrets or {})
    return run_program(config, secret_keys=list(secrets or {}), stack=stack)
