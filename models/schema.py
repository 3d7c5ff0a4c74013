"""Project the pydantic config onto the `config:` block of Pulumi.yaml.

Pulumi.yaml is not a second source of truth: it is generated from `Config` (run
`python -m llm_maas.models.schema`) and a test fails when the two drift apart.
A key Pulumi.yaml declares without a default is required by the CLI, so only `models` goes
without one; optional keys whose absence means "none" (`hfToken`, `hfTokenSecret`, `gpuBudget`,
`renderYamlTo`) are keys Pulumi.yaml cannot express, so they are documented in the README instead.
"""

from __future__ import annotations

import typing
from typing import Any

import yaml
from pydantic import BaseModel

from .config import Config
from .errors import CONFIG_NAMESPACE

UNDECLARED = tuple(
    field.alias or name
    for name, field in Config.model_fields.items()
    if not field.is_required() and field.get_default(call_default_factory=True) is None
)


def _pulumi_type(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _pulumi_type(typing.get_args(annotation)[0])
    if origin is list:
        return {"type": "array", "items": _pulumi_type(typing.get_args(annotation)[0])}
    if origin is typing.Literal or annotation is str:
        return {"type": "string"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is bool:
        return {"type": "boolean"}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) or origin is dict:
        return {"type": "object"}
    raise TypeError(f"no Pulumi config type for {annotation!r}")


def pulumi_config_schema() -> dict[str, dict[str, Any]]:
    schema: dict[str, dict[str, Any]] = {}
    for field_name, field in Config.model_fields.items():
        key = field.alias or field_name
        if key in UNDECLARED:
            continue
        entry = _pulumi_type(field.annotation)
        entry["description"] = field.description
        if not field.is_required():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump(mode="json", by_alias=True, exclude_none=True)
            entry["default"] = default
        schema[f"{CONFIG_NAMESPACE}:{key}"] = entry
    return schema


if __name__ == "__main__":
    print(yaml.safe_dump({"config": pulumi_config_schema()}, sort_keys=False, width=100), end="")
