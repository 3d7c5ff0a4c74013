"""One exception for every way a stack config can be wrong.

Pulumi users read errors in `pulumi preview` output, so each violation is a single line that
starts with the config key path they would edit (`maas:models[1].adapters[0]`), shows the value
they wrote and says what is allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

CONFIG_NAMESPACE = "maas"


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# pydantic's marker after a map key that is itself invalid (the key, not its value).
_MAP_KEY = "[key]"


def dotted_path(loc: Sequence[str | int]) -> str:
    """Render a location such as ("models", 1, "adapters", 0) as `models[1].adapters[0]`, and a
    map key that is not an identifier (a label key, say) as `nodeSelector["nvidia.com/gpu"]`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == _MAP_KEY:
            path += " (the key)"
        elif not _IDENTIFIER.match(part):
            path += f"[{json.dumps(part)}]"
        else:
            path += f".{part}" if path else part
    return path


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

    def render(self, prefix: str = f"{CONFIG_NAMESPACE}:") -> str:
        return f"{prefix}{dotted_path(self.loc)} = {show_value(self.value)}: {self.message}"

    def __str__(self) -> str:
        return self.render()


# Where the config came from, for the error's first line and its key paths: stack files' keys
# live under `maas:`; a catalog dict in a program (load_catalog) has its keys at the top.
STACK_CONFIG = ("invalid stack config", f"{CONFIG_NAMESPACE}:")
CATALOG = ("invalid catalog", "")


class ConfigError(Exception):
    """The config breaks one or more rules; raised before any resource is registered."""

    def __init__(self, violations: Iterable[Violation], source: tuple[str, str] = STACK_CONFIG):
        self.violations = tuple(violations)
        self.source = source
        heading, prefix = source
        count = len(self.violations)
        lines = "\n".join(f"  - {v.render(prefix)}" for v in self.violations)
        super().__init__(f"{heading} ({count} problem{'' if count == 1 else 's'}):\n{lines}")
