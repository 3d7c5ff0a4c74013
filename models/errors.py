"""One exception for every way a stack config can be wrong.

Pulumi users read errors in `pulumi preview` output, so each violation is a single line that
starts with the config key path they would edit (`maas:models[1].adapters[0]`), shows the value
they wrote and says what is allowed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

CONFIG_NAMESPACE = "maas"


def dotted_path(loc: Sequence[str | int]) -> str:
    """Render a location such as ("models", 1, "adapters", 0) as `models[1].adapters[0]`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def key_path(loc: Sequence[str | int]) -> str:
    """The full config key path a user edits: `maas:models[1].adapters[0]`."""
    return f"{CONFIG_NAMESPACE}:{dotted_path(loc)}"


def show_value(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class Violation:
    loc: tuple[str | int, ...]
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{key_path(self.loc)} = {show_value(self.value)}: {self.message}"


class ConfigError(Exception):
    """The stack config breaks one or more rules; raised before any resource is registered."""

    def __init__(self, violations: Iterable[Violation]):
        self.violations = tuple(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(f"invalid stack config ({len(self.violations)} problem(s)):\n{lines}")
