"""Validated building blocks of the config models: annotated string types and the strict base."""

from __future__ import annotations

import re
from typing import Annotated, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from .kube_rules import Quantity, quantity_value
from .names import (
    DNS1035_RULE,
    GATEWAY_NAME_MAX,
    MODEL_LIST,
    POOL_NAME_MAX,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
)


def _check(predicate, rule: str):
    def validate(value: str) -> str:
        if not predicate(value):
            raise ValueError(f"must be {rule}")
        return value

    return AfterValidator(validate)


DNS1123Label = Annotated[
    str,
    _check(
        is_dns1123_label,
        "a DNS-1123 label: at most 63 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit",
    ),
]
# Services are DNS-1035 labels (pkg/apis/core/validation ValidateServiceName): a reference to any
# other name can never resolve.
ServiceName = Annotated[str, _check(is_dns1035_label, f"{DNS1035_RULE}, at most 63 characters (a Service name)")]
GatewayName = Annotated[
    str,
    _check(
        lambda v: is_dns1035_label(v, GATEWAY_NAME_MAX),
        f"{DNS1035_RULE}, at most {GATEWAY_NAME_MAX} characters (its data plane Service takes the name, and "
        f"<name>-{MODEL_LIST} must still be a Service name)",
    ),
]
PoolName = Annotated[
    str,
    _check(lambda v: is_dns1035_label(v, POOL_NAME_MAX), f"{DNS1035_RULE}, at most {POOL_NAME_MAX} characters"),
]
Hostname = Annotated[str, _check(is_dns1123_subdomain, "a DNS-1123 subdomain such as models.apps.example.com")]
DNS1123Subdomain = Annotated[
    str, _check(is_dns1123_subdomain, "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'")
]
# Where render mode writes: a directory path, relative to the project or absolute.
RenderDirectory = Annotated[
    str,
    _check(lambda v: bool(v.strip()) and "\0" not in v and v == v.strip(), "a directory path such as rendered/dev"),
]


# Client-facing model names travel in JSON bodies, HTTP header values and command-line flags:
# printable, no spaces or quotes.
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")
ClientName = Annotated[
    str,
    _check(
        lambda v: len(v) <= 253 and bool(_CLIENT_NAME.match(v)),
        "1-253 characters of letters, digits and . _ : / @ + -, starting with a letter or digit",
    ),
]

_IMAGE = re.compile(r"^[a-z0-9]([a-z0-9._:/-]*)(:[A-Za-z0-9_.-]+)?(@sha256:[a-f0-9]{64})?$")
Image = Annotated[
    str,
    _check(lambda v: bool(_IMAGE.match(v)), "a container image reference such as registry/repo:tag"),
]
# Gateway API's Duration (HTTPRoute timeouts): 1 to 4 <number><unit> pairs, units h, m, s, ms.
_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration_seconds(duration: str) -> float:
    return sum(int(n) * _DURATION_UNITS[unit] for n, unit in re.findall(r"([0-9]+)(ms|h|m|s)", duration))


Duration = Annotated[
    str,
    _check(lambda v: bool(_DURATION.match(v)), "a duration such as 300s, 10m or 1h30m (units h, m, s, ms)"),
]
_RELEASE = re.compile(r"^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")
Release = Annotated[str, _check(lambda v: bool(_RELEASE.match(v)), "a release tag such as v1.6.1")]


class StrictModel(BaseModel):
    """camelCase keys as in the stack files; any key not declared here is an error."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )


class Resources(StrictModel):
    cpu: Quantity = Field(description="CPU request. No CPU limit is set, so bursts are not throttled.")
    memory: Quantity = Field(description="Memory request.")
    memory_limit: Optional[Quantity] = Field(None, description="Memory limit; defaults to the request.")

    @model_validator(mode="after")
    def _limit_holds_the_request(self) -> "Resources":
        # ValidateResourceRequirements: a limit below its request is refused.
        if self.memory_limit is not None and quantity_value(self.memory_limit) < quantity_value(self.memory):
            raise ValueError(
                f"memoryLimit {self.memory_limit} is below memory {self.memory}; the limit must be at least the request"
            )
        return self

    @property
    def limit(self) -> str:
        return self.memory_limit or self.memory
