"""Turn the raw `maas:*` stack config into a validated `Config`, or one `ConfigError`."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml
from pydantic import BaseModel, ValidationError

from .config import Config
from .errors import CATALOG, CONFIG_NAMESPACE, STACK_CONFIG, ConfigError, Violation

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
    return validate(raw, STACK_CONFIG)


# The lists whose entries are checked one by one: an entry that does not parse is left out of the
# second pass, and the rest still get their cross-field checks.
ENTRY_LISTS = ("models", "consumers", "tiers", "teams")


def validate(raw: Mapping[str, Any], source: tuple[str, str]) -> Config:
    """A Config, or one ConfigError with every problem: the fields that do not parse, and what the
    cross-field rules find in everything that does (pydantic runs those only on a whole model)."""
    try:
        return Config.model_validate(dict(raw))
    except ValidationError as error:
        field_violations = list(_violations(error))
        cross = _cross_field_violations(dict(raw), error)
    raise ConfigError(field_violations + cross, source) from None


def _cross_field_violations(raw: dict[str, Any], error: ValidationError) -> list[Violation]:
    """The cross-field rules over the config without the entries and keys that failed to parse.
    Names those entries declare still count as declared (a consumer naming a model whose entry
    has a typo is not also told the model does not exist), and each violation keeps the index
    its entry has in the config as written."""
    bad_keys: set[Any] = set()
    bad_entries: dict[str, set[int]] = {key: set() for key in ENTRY_LISTS}
    for detail in error.errors(include_url=False):
        loc = detail["loc"]
        if len(loc) > 1 and loc[0] in ENTRY_LISTS and isinstance(loc[1], int) and isinstance(raw.get(loc[0]), list):
            bad_entries[loc[0]].add(loc[1])
        elif loc:
            bad_keys.add(loc[0])
    partial = {key: value for key, value in raw.items() if key not in bad_keys}
    kept: dict[str, list[int]] = {}
    for key, bad in bad_entries.items():
        if bad:
            kept[key] = [i for i in range(len(raw[key])) if i not in bad]
            partial[key] = [raw[key][i] for i in kept[key]]
    unparsed = {key: [raw[key][i] for i in sorted(bad)] for key, bad in bad_entries.items() if bad}
    context = {
        "declared_names": {name for entry in unparsed.get("models", []) for name in _declared_names(entry)},
        "declared_tiers": {entry.get("name") for entry in unparsed.get("tiers", []) if isinstance(entry, dict)},
        "declared_teams": {entry.get("name") for entry in unparsed.get("teams", []) if isinstance(entry, dict)},
    }
    try:
        Config.model_validate(partial, context=context)
    except ConfigError as found:
        violations = found.violations
    except ValidationError:
        return []  # what is left does not make a whole config (say, no model parsed)
    else:
        return []

    def original(loc: tuple) -> tuple:
        if len(loc) > 1 and loc[0] in kept and isinstance(loc[1], int):
            return (loc[0], kept[loc[0]][loc[1]], *loc[2:])
        return loc

    return [Violation(original(v.loc), v.value, v.message) for v in violations if v.loc[:1] and v.loc[0] not in bad_keys]


def _declared_names(entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return []
    adapters = entry.get("adapters") if isinstance(entry.get("adapters"), list) else []
    names = [entry.get("name"), *(a.get("name") if isinstance(a, dict) else a for a in adapters)]
    return [name for name in names if isinstance(name, str)]


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
        raise ConfigError(leaked, CATALOG)
    return validate(values, CATALOG)


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
