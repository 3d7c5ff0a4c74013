"""Check objects the way an API server would, from real schemas.

Custom resources: the `openAPIV3Schema` of their CRD (the version the stack pins, read from the
folder in MAAS_CRDS_DIR), with defaults applied first, unknown fields rejected (strict field
validation), structural validation, then every `x-kubernetes-validations` rule evaluated by
cel-rust. Rules cel-rust cannot evaluate (Kubernetes-only library functions) are counted and
reported with the object and path, never treated as passing.

Built-in kinds: `kubernetes-validate` in strict mode. Names and labels: Kubernetes syntax rules.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import cel
import jsonschema
import k8s_semantics
import kubernetes_validate
import pytest
import yaml

# kubernetes-validate re-reads its JSON schema files on every call (seconds for a 1,000-name
# catalog); the files never change, so keep each one parsed once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)

# The oldest Kubernetes the stacks target (OpenShift 4.19 is 1.32) and the newest schema here.
KUBERNETES_VERSIONS = ("1.32.0", kubernetes_validate.latest_version())

# OpenShift's Route is an aggregated API, not a CRD: neither the CRD folder nor
# kubernetes-validate carries its schema.
NO_SCHEMA_HERE = {("route.openshift.io/v1", "Route")}

# Where each CRD source's files live under MAAS_CRDS_DIR, keyed by the Versions field that pins it.
CRD_SOURCES = {
    "gateway-api": "gateway_api",
    "gaie": "inference_extension",
    "llm-d-router": "llmd_router",
    "agentgateway": "agentgateway",
    "keda": "keda_release",
    "prometheus-operator": "prometheus_operator",
    "lws": "leader_worker_set",
}

# libyaml when present: the agentgateway CRDs are megabytes of YAML.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)



def kubernetes_string_library() -> dict[str, Any]:
    """The Kubernetes CEL `strings` extension functions CRD rules here use, as the API server
    defines them (k8s.io/apiserver/pkg/cel/library): receiver-style on strings."""
    return {
        "indexOf": lambda s, sub, *start: s.find(sub, *start),
        "lastIndexOf": lambda s, sub, *end: s.rfind(sub) if not end else s.rfind(sub, 0, end[0] + len(sub)),
        "split": lambda s, sep, *limit: s.split(sep, limit[0] - 1) if limit and limit[0] > 0 else s.split(sep),
        "lowerAscii": lambda s: s.lower(),
        "upperAscii": lambda s: s.upper(),
        "trim": lambda s: s.strip(),
    }


@dataclass
class CelRecord:
    kind: str
    name: str
    path: str
    rule: str
    reason: str = ""


@dataclass
class CelReport:
    passed: list[CelRecord] = field(default_factory=list)
    failed: list[CelRecord] = field(default_factory=list)
    unevaluable: list[CelRecord] = field(default_factory=list)
    transition_rules_skipped: int = 0

    def summary(self) -> str:
        lines = [
            f"CRD CEL rules: {len(self.passed)} passed, {len(self.failed)} failed, "
            f"{len(self.unevaluable)} could not be evaluated by cel-rust, "
            f"{self.transition_rules_skipped} transition rules (oldSelf) not applicable to a create"
        ]
        for record in self.unevaluable:
            lines.append(f"  not evaluated: {record.kind}/{record.name} {record.path}: {record.rule[:90]} ({record.reason})")
        return "\n".join(lines)


# One report for the whole test session, printed by conftest's terminal summary.
CEL_REPORT = CelReport()


def _schema_walk(schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[dict[str, Any], Any, str]]:
    yield schema, value, path
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                yield from _schema_walk(props[key], item, f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from _schema_walk(extra, item, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _schema_walk(schema["items"], item, f"{path}[{index}]")


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it, before validation."""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in list(value):
                if key not in props:
                    value[key] = apply_defaults(extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def unknown_fields(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Fields strict field validation would reject (pruning would silently drop them)."""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        found = []
        for key, item in value.items():
            if key in props:
                found += unknown_fields(props[key], item, f"{path}.{key}")
            elif isinstance(extra, dict):
                found += unknown_fields(extra, item, f"{path}.{key}")
            elif not preserve and extra is not True:
                found.append(f"{path}.{key}")
        return found
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [f for i, item in enumerate(value) for f in unknown_fields(schema["items"], item, f"{path}[{i}]")]
    return []


def _to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI v3 (Kubernetes structural) schema -> JSON Schema for `jsonschema`."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_to_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class CrdCatalog:
    """The CRDs of one set of version pins, read from `<root>/<source>/<version>/*.yaml`."""

    def __init__(self, root: Path, pins: dict[str, str]):
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        self._validators: dict[tuple[str, str], jsonschema.Draft7Validator] = {}
        for source, version in pins.items():
            folder = root / source / version
            if not folder.is_dir():
                raise FileNotFoundError(f"no CRDs for {source} {version} under {root} (expected {folder})")
            for path in sorted(folder.glob("*.yaml")):
                for doc in yaml.load_all(path.read_text(), Loader=_YAML_LOADER):
                    if not doc or doc.get("kind") != "CustomResourceDefinition":
                        continue
                    group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                    for served in doc["spec"]["versions"]:
                        if served.get("served", True):
                            schema = served["schema"]["openAPIV3Schema"]
                            self.schemas[(f"{group}/{served['name']}", kind)] = schema

    def knows(self, obj: dict[str, Any]) -> bool:
        return (obj["apiVersion"], obj["kind"]) in self.schemas

    def validate(self, original: dict[str, Any], report: CelReport = CEL_REPORT) -> list[str]:
        key = (original["apiVersion"], original["kind"])
        schema = self.schemas[key]
        obj = apply_defaults(schema, copy.deepcopy(original))
        errors = [f"unknown field {f}" for f in unknown_fields(schema, {k: v for k, v in obj.items() if k != "metadata"})]
        if key not in self._validators:
            self._validators[key] = jsonschema.Draft7Validator(_to_json_schema(schema))
        validator = self._validators[key]
        errors += [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
        if not errors:
            errors += self._cel_rules(schema, obj, report)
        return errors

    @staticmethod
    def _cel_rules(schema: dict[str, Any], obj: dict[str, Any], report: CelReport) -> list[str]:
        errors = []
        kind, name = obj["kind"], obj["metadata"]["name"]
        for node, value, path in _schema_walk(schema, obj, ""):
            for validation in node.get("x-kubernetes-validations", []):
                rule = validation["rule"]
                if "oldSelf" in rule:
                    report.transition_rules_skipped += 1
                    continue
                context = cel.Context(variables={"self": value}, functions=kubernetes_string_library())
                record = CelRecord(kind, name, path or ".", rule)
                try:
                    result = cel.evaluate(rule, context)
                except Exception as error:  # noqa: BLE001 - cel-rust raises several types
                    if "Undefined variable or function" in str(error):
                        record.reason = str(error).split(".")[0]
                        report.unevaluable.append(record)
                        continue
                    # The API server rejects an object whose rule errors (e.g. a missing key).
                    result = f"evaluation error: {error}"
                if result is True:
                    report.passed.append(record)
                else:
                    record.reason = validation.get("message", "rule returned false") if result is False else result
                    report.failed.append(record)
                    errors.append(f"{path or '.'}: {record.reason} ({rule[:120]})")
        return errors


def validate_builtin(obj: dict[str, Any]) -> list[str]:
    errors = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"Kubernetes {version}: {error.message} at {'.'.join(map(str, error.path))}")
    return errors


def validate_all(objects: list[dict[str, Any]], crds: CrdCatalog) -> dict[str, list[str]]:
    """Every object's problems, keyed `<apiVersion> <kind> <namespace>/<name>`; kinds no schema
    here describes are returned under `unchecked`."""
    problems: dict[str, list[str]] = {}
    for obj in objects:
        where = f"{obj['apiVersion']} {obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
        errors = k8s_semantics.object_problems(obj)
        if crds.knows(obj):
            errors += crds.validate(obj)
        elif (obj["apiVersion"], obj["kind"]) in NO_SCHEMA_HERE:
            problems.setdefault("unchecked", []).append(where)
        else:
            errors += validate_builtin(obj)
        if errors:
            problems[where] = errors
    across = k8s_semantics.set_problems(objects)
    if across:
        problems["across objects"] = across
    return problems


@functools.lru_cache(maxsize=None)
def catalog(root: Path, pins: tuple[tuple[str, str], ...]) -> CrdCatalog:
    """One parsed catalog per CRD folder and set of pins for the whole session."""
    return CrdCatalog(root, dict(pins))


def crd_pins(versions: Any) -> tuple[tuple[str, str], ...]:
    return tuple((source, getattr(versions, attr)) for source, attr in CRD_SOURCES.items())


def crds_dir() -> Optional[Path]:
    import os

    value = os.environ.get("MAAS_CRDS_DIR")
    return Path(value) if value and Path(value).is_dir() else None


# Tests that validate against the real CRDs skip without them, saying how to get them.
needs_crds = pytest.mark.skipif(
    crds_dir() is None,
    reason="MAAS_CRDS_DIR does not name a folder of CRDs: run `make test` with ../shared/crds beside this "
    "clone, or `make crds` (downloads the pinned versions) and then `MAAS_CRDS_DIR=crds-download make test`",
)
