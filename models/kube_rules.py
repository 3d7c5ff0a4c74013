"""What the API server checks in the pod-spec fragments a config passes through, beyond the
OpenAPI schema, so a config it would refuse is refused here first, at its key path.

Sources, at Kubernetes v1.34:
- k8s.io/apimachinery pkg/util/validation/validation.go: IsQualifiedName (label and
  toleration keys), IsValidLabelValue.
- kubernetes pkg/apis/core/validation/validation.go: validateTolerations (no key means operator
  Exists; `tolerationSeconds` only with effect NoExecute; Exists takes no value, Equal a label
  value), ValidateResourceRequirements (a limit is at least its request), validateResourceName
  and IsExtendedResourceName in pkg/apis/core/helper (an extended resource is a qualified name
  with a domain outside kubernetes.io), ValidateClassName (a storage class is a DNS-1123 subdomain).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator

from .names import is_dns1123_subdomain

_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME_RULE = (
    "a qualified name: an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, "
    "'-', '_' or '.', starting and ending with a letter or digit (e.g. nvidia.com/gpu.present)"
)
LABEL_VALUE_RULE = "a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


def is_qualified_name(value: str) -> bool:
    prefix, slash, name = value.rpartition("/")
    if slash and not (prefix and is_dns1123_subdomain(prefix)):
        return False
    return len(name) <= 63 and bool(_NAME_PART.match(name))


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def _must(predicate, rule: str):
    def validate(value: str) -> str:
        if not predicate(value):
            raise ValueError(f"must be {rule}")
        return value

    return AfterValidator(validate)


QualifiedName = Annotated[str, _must(is_qualified_name, QUALIFIED_NAME_RULE)]
LabelValue = Annotated[str, _must(is_label_value, LABEL_VALUE_RULE)]
# Labels a config writes onto objects or into selectors (and a nodeSelector, which the API server
# validates as labels).
Labels = dict[QualifiedName, LabelValue]


def is_extended_resource_name(value: str) -> bool:
    domain = value.rpartition("/")[0]
    return bool(domain) and not domain.endswith("kubernetes.io") and is_qualified_name(value)


ExtendedResourceName = Annotated[
    str,
    _must(is_extended_resource_name, "an extended resource with its vendor's domain, such as nvidia.com/gpu or amd.com/gpu"),
]
StorageClassName = Annotated[str, _must(is_dns1123_subdomain, "a storage class name: a DNS-1123 subdomain such as fast-ssd")]

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SCALE = {
    None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
QUANTITY_RULE = "a Kubernetes quantity such as 500m, 4, 512Mi or 16Gi"


def quantity_value(value: str) -> Decimal:
    match = _QUANTITY.match(value)
    if match is None:
        raise ValueError(f"must be {QUANTITY_RULE}")
    return Decimal(match.group(1)) * Decimal(_SCALE[match.group(2)])


def _is_quantity(value: str) -> bool:
    return _QUANTITY.match(value) is not None


def _is_positive_quantity(value: str) -> bool:
    return _is_quantity(value) and quantity_value(value) > 0


Quantity = Annotated[str, _must(_is_quantity, QUANTITY_RULE)]
# A size something must fit in: zero would be accepted by the API server and hold nothing.
Size = Annotated[str, _must(_is_positive_quantity, f"more than zero, {QUANTITY_RULE}")]


def toleration_problem(key: str | None, operator: str, value: str | None, effect: str | None, seconds: int | None) -> str | None:
    """validateTolerations' rules, in the words a config author needs."""
    if not key and operator != "Exists":
        return "a toleration without a key matches every taint and needs operator: Exists"
    if seconds is not None and effect != "NoExecute":
        return "tolerationSeconds applies only to effect: NoExecute (it bounds how long the pod stays after the taint appears)"
    if operator == "Exists" and value:
        return "operator: Exists matches any value; remove value, or use operator: Equal"
    if operator == "Equal" and value is not None and not is_label_value(value):
        return f"value must be {LABEL_VALUE_RULE}"
    return None
