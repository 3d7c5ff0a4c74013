"""Turn the raw `maas:*` stack config into a validated `Config`, or one `ConfigError`."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

from pydantic import BaseModel, ValidationError

from .config import Config
from .errors import CONFIG_NAMESPACE, ConfigError, Violation

SECRET_KEYS = ("hfToken",)

_FRIENDLIER = {
    "missing": "required key is missing",
}


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text and plain strings as they are."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model that describes the object found at `loc`, if any."""
    current: Any = Config
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            current = fields[part].annotation if part in fields else None
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional[...] and Annotated[...] so the underlying type is visible."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union:
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = members[0] if len(members) == 1 else annotation
            if len(members) != 1:
                return annotation
        else:
            return annotation


def _violations(error: ValidationError) -> Iterable[Violation]:
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        kind = detail["type"]
        value = None if kind == "missing" else detail.get("input")
        if loc and loc[0] in SECRET_KEYS:
            value = "[secret]"
        message = _FRIENDLIER.get(kind, detail["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            parent = _model_at(loc[:-1])
            allowed = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
            message = f"unknown key {loc[-1]!r}; allowed keys here: {', '.join(allowed)}"
        yield Violation(loc, value, message)


def load_config(values: Mapping[str, Any], secret_keys: Iterable[str] = ()) -> Config:
    """Validate config given as `{"maas:models": "<json>", ...}` (keys of other namespaces are
    ignored). Secrets must have been set with `pulumi config set --secret`."""
    prefix = CONFIG_NAMESPACE + ":"
    secret_keys = set(secret_keys)
    raw = {key[len(prefix):]: _decode(value) for key, value in values.items() if key.startswith(prefix)}
    plaintext_secrets = [
        Violation((key,), "[secret]", "holds a credential; set it with `pulumi config set --secret`")
        for key in SECRET_KEYS
        if key in raw and prefix + key not in secret_keys
    ]
    if plaintext_secrets:
        raise ConfigError(plaintext_secrets)
    for key in SECRET_KEYS:
        # Secrets are strings even when they happen to look like JSON.
        if key in raw:
            raw[key] = values[prefix + key]
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_violations(error)) from None


def load_catalog(values: Mapping[str, Any]) -> Config:
    """Validate config written as a plain dict in another program, with the stack files' camelCase
    keys (`{"models": [{"name": ...}], "gateway": {...}}`). A dict in a program is plaintext, so
    `hfToken` is refused here: name a Secret you manage with `hfTokenSecret` instead."""
    leaked = [
        Violation((key,), "[secret]", "a dict in a program is plaintext; set hfTokenSecret to a Secret you manage")
        for key in SECRET_KEYS
        if key in values
    ]
    if leaked:
        raise ConfigError(leaked)
    try:
        return Config.model_validate(dict(values))
    except ValidationError as error:
        raise ConfigError(_violations(error)) from None


def load_stack_config() -> Config:
    """Read the running Pulumi program's config (set by the language host or by tests)."""
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = [key for key in values if runtime_config.is_config_secret(key)]
    secret_keys += runtime_config.get_config_secret_keys_env()
    return load_config(values, secret_keys)


def read_stack_files(project_dir: Path, stack: str, overrides: Optional[Mapping[str, Any]] = None) -> dict[str, str]:
    """What the Pulumi CLI hands the program for `--stack <stack>`: the stack file's values over
    the defaults Pulumi.yaml declares, structured values as JSON text. Encrypted (`secure:`)
    values cannot be read without the CLI and are left out."""
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    values: dict[str, Any] = {
        key: spec["default"] for key, spec in (project.get("config") or {}).items() if "default" in spec
    }
    stack_values = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text()).get("config") or {}
    values.update({k: v for k, v in stack_values.items() if not (isinstance(v, dict) and "secure" in v)})
    values.update(overrides or {})
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}
