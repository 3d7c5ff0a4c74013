"""How envoyproxy/ratelimit reads a budget configuration: Go, `gopkg.in/yaml.v2`, YAML 1.1 typing.

Written from the sources, independently of the component code:
- go-yaml v2.4.0 `resolve.go`: a plain (unquoted, untagged) scalar resolves to null (``, `~`,
  null/Null/NULL), bool (y/Y/yes/Yes/YES/n/N/no/No/NO/true/True/TRUE/false/False/FALSE/on/On/ON/
  off/Off/OFF), float (.nan, .inf, -.inf, a leading `.`, or matching
  `^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$`), a timestamp (4 digits, `-`, a date), an
  int (Go ParseInt with base prefixes, `_` ignored, binary `0b`), and a string otherwise; a
  quoted scalar is a string;
- go-yaml v2.4.0 `decode.go` `scalar()`: into a Go `string` field a null gives "" and any other
  scalar its source text; into a `uint32` field only an int (or a whole float) in range;
- envoyproxy/ratelimit `src/config/config_impl.go` `ConfigFileContentToYaml`: the file is first
  read into `map[interface{}]interface{}` and every leaf must be a string, int, bool or null
  (`validateYamlKeys`), else the whole file is refused; then into `YamlRoot` (domain and
  descriptors: key, value strings, rate_limit.requests_per_unit uint32, unit string); a descriptor
  with an empty value is keyed by its key alone, and `GetLimit` falls back from `key_value` to
  that key.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from typing import Any, Optional

import yaml

BOOLS = {
    **dict.fromkeys(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"], True),
    **dict.fromkeys(["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"], False),
}
NULLS = {"", "~", "null", "Null", "NULL"}
SPECIAL_FLOATS = {".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan, **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf), **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf)}  # fmt: skip
YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
INT64 = (-(2**63), 2**63 - 1)
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1


class GoYamlError(ValueError):
    pass


def _go_parse_int(text: str) -> Optional[int]:
    """Go strconv.ParseInt/ParseUint with base 0: 0x, 0o, 0b prefixes, a leading 0 is octal."""
    match = re.fullmatch(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)", text)
    if not match:
        return None
    sign, digits = match.groups()
    if len(digits) > 1 and digits[0] == "0" and digits[1] in "01234567":
        digits = "0o" + digits[1:]
    value = int(sign + digits, 0)
    return value if INT64[0] <= value <= UINT64_MAX else None


def _go_date(text: str) -> Optional[datetime.date]:
    """parseTimestamp with the one layout a label can take, "2006-1-2": 4 digits, then -M-D."""
    match = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", text)
    if not match:
        return None
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def resolve_plain(text: str) -> Any:
    """resolve.go `resolve("", text)`: what a plain scalar becomes."""
    if text in NULLS:
        return None
    if text in BOOLS:
        return BOOLS[text]
    if text in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[text]
    hint = text[0]
    if hint == ".":
        try:
            return float(text)
        except ValueError:
            return text
    if hint in "+-0123456789":
        date = _go_date(text)
        if date is not None:
            return date
        plain = text.replace("_", "")
        value = _go_parse_int(plain)
        if value is not None:
            return value
        if YAML_FLOAT.match(plain):
            return float(plain)
    return text


def _value(node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return {_value(k): _value(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_value(item) for item in node.value]
    return resolve_plain(node.value) if node.style is None else node.value


def _text(node: yaml.Node) -> str:
    """decode.go scalar() into a Go string field."""
    assert isinstance(node, yaml.ScalarNode), "a string field needs a scalar"
    if node.style is None and resolve_plain(node.value) is None:
        return ""
    return node.value


def _uint32(node: yaml.Node) -> int:
    value = _value(node)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 0 <= value <= UINT32_MAX:
        raise GoYamlError(f"cannot unmarshal {node.value!r} into uint32")
    return int(value)


def _validate_leaves(value: Any) -> None:
    """config_impl.go validateYamlKeys: string keys, and string/int/bool/null leaves only."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise GoYamlError(f"config error, key is not of type string: {key!r}")
            _validate_leaves(item)
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                raise GoYamlError(f"config error, yaml file contains list of type other than map: {item!r}")
            _validate_leaves(item)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, int) and INT64[0] <= value <= INT64[1]:
        return
    else:
        raise GoYamlError(f"error checking config: {value!r} is not a string, int, bool or null")


# config_impl.go accepts any name of the RateLimitResponse_RateLimit_Unit enum but UNKNOWN, in any
# letter case (go-control-plane rls.pb.go at the pinned commit 1e50889b).
UNITS = {"SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR", "WEEK"}


@dataclass
class Limit:
    requests_per_unit: int
    unit: str


def _field(mapping: yaml.MappingNode, name: str) -> Optional[yaml.Node]:
    return next((v for k, v in mapping.value if k.value == name), None)


def load_ratelimit_config(text: str) -> tuple[str, dict[str, Limit]]:
    """The domain and `key[_value]` -> limit, as the service holds them after loading `text`;
    GoYamlError where it refuses the file (it then never becomes ready)."""
    root = yaml.compose(text)
    _validate_leaves(_value(root))
    domain_node = _field(root, "domain")
    domain = _text(domain_node) if domain_node is not None else ""
    if not domain:
        raise GoYamlError("config file cannot have empty domain")
    limits: dict[str, Limit] = {}
    for descriptor in (_field(root, "descriptors") or yaml.SequenceNode("", [])).value:
        key_node, value_node = _field(descriptor, "key"), _field(descriptor, "value")
        key = _text(key_node) if key_node is not None else ""
        if not key:
            raise GoYamlError("descriptor has empty key")
        value = _text(value_node) if value_node is not None else ""
        final = f"{key}_{value}" if value else key
        if final in limits:
            raise GoYamlError(f"duplicate descriptor composite key '{domain}.{final}'")
        rate_limit = _field(descriptor, "rate_limit")
        if rate_limit is not None:
            unit = _text(_field(rate_limit, "unit"))
            if unit.upper() not in UNITS:
                raise GoYamlError(f"invalid rate limit unit '{unit}'")
            limits[final] = Limit(_uint32(_field(rate_limit, "requests_per_unit")), unit.lower())
    return domain, limits


def limit_for(limits: dict[str, Limit], key: str, value: str) -> Optional[Limit]:
    """config_impl.go GetLimit for a one-entry descriptor: `key_value`, else `key` alone."""
    return limits.get(f"{key}_{value}") or limits.get(key)
