"""What the API server and the controllers check beyond the OpenAPI schemas, written down here from
upstream source, independently of the config models (models/kube_rules.py), so a rule the models
miss fails the tests:

- k8s.io/apimachinery pkg/util/validation/validation.go: IsQualifiedName, IsValidLabelValue,
  IsDNS1123Label, IsDNS1123Subdomain, IsDNS1035Label.
- kubernetes pkg/apis/core/validation/validation.go: ValidateServiceName (DNS-1035),
  ValidateNamespaceName (DNS-1123 label), validateTolerations, ValidateResourceRequirements
  (limits at least requests; extended resources need a domain, whole numbers, and requests equal
  to limits), ValidatePersistentVolumeClaimSpec (storageClassName a DNS-1123 subdomain, a storage
  request above zero), ValidateNodeSelector via ValidateLabels.
- kubernetes pkg/controller: a Deployment's ReplicaSets are `<name>-<pod-template-hash>`; a
  StatefulSet's pods `<name>-<ordinal>` (a pod's hostname, so a DNS label) and its
  `controller-revision-hash` label `<name>-<hash>` (up to 10 characters of hash), a label value.
- LeaderWorkerSet v0.8 pkg/controllers: the leader StatefulSet is named after the set, each
  group's worker StatefulSet `<set>-<group index>`, and the set's headless Service after the set.
- agentgateway v1.4.1 deployer: a Gateway's data plane Deployment, Service and ServiceAccount
  are named after the Gateway.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any, Iterable, Iterator

LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# The longest hash the controllers append (controller.ComputeHash: a uint32 rendered safely).
HASH_LENGTH = 10
NATIVE_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage"}
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
SUFFIXES = {
    "": 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10**3, "M": 10**6, "G": 10**9,
    "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip


def is_dns_label(value: str) -> bool:
    return len(value) <= 63 and bool(DNS_LABEL.match(value))


def is_dns1035(value: str) -> bool:
    return len(value) <= 63 and bool(DNS1035.match(value))


def is_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(DNS_SUBDOMAIN.match(value))


def is_label_value(value: str) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(LABEL_VALUE.match(value))


def is_qualified_name(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and not (prefix and is_subdomain(prefix)):
        return False
    return len(name) <= 63 and bool(LABEL_NAME.match(name))


def quantity(value: Any) -> Decimal:
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = QUANTITY.match(str(value))
    if not match or match.group(2) not in SUFFIXES:
        raise ValueError(f"{value!r} is not a quantity")
    return Decimal(match.group(1)) * Decimal(SUFFIXES[match.group(2)])


# Kinds whose names must be DNS labels (they become DNS names), not subdomains.
NAME_RULES = {"Namespace": (is_dns_label, "a DNS-1123 label"), "Service": (is_dns1035, "a DNS-1035 label")}


def _labels(where: str, labels: dict[str, str]) -> Iterator[str]:
    for key, value in (labels or {}).items():
        if not is_qualified_name(key):
            yield f"{where}: key {key!r} is not a qualified name"
        if not is_label_value(value):
            yield f"{where}: value {value!r} of {key!r} is not a valid label value"


def metadata_problems(obj: dict[str, Any]) -> list[str]:
    meta = obj["metadata"]
    name, kind = meta.get("name", ""), obj["kind"]
    rule, rule_text = NAME_RULES.get(kind, (is_subdomain, "a DNS-1123 subdomain"))
    errors = [] if rule(name) else [f"metadata.name {name!r} is not {rule_text}"]
    namespace = meta.get("namespace")
    if namespace is not None and not is_dns_label(namespace):
        errors.append(f"metadata.namespace {namespace!r} is not a DNS-1123 label")
    errors += _labels("metadata.labels", meta.get("labels"))
    for key in meta.get("annotations") or {}:
        if not is_qualified_name(key):
            errors.append(f"metadata.annotations: key {key!r} is not a qualified name")
    return errors


def _selectors(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, str]]]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    for key in ("selector", "podSelector"):
        selector = spec.get(key)
        if isinstance(selector, dict):
            # A Service selects with a plain map; the other kinds with a LabelSelector.
            yield f"spec.{key}", selector if obj["kind"] == "Service" else selector.get("matchLabels", {})
    for index, rule in enumerate(spec.get("ingress", []) + spec.get("egress", [])):
        for peer in rule.get("from", []) + rule.get("to", []):
            for key in ("podSelector", "namespaceSelector"):
                if key in peer:
                    yield f"spec.ingress/egress[{index}].{key}", peer[key].get("matchLabels", {})


def pod_templates(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if "template" in spec and isinstance(spec["template"], dict):
        yield "spec.template", spec["template"]
    group = spec.get("leaderWorkerTemplate")
    if group:
        for key in ("leaderTemplate", "workerTemplate"):
            if key in group:
                yield f"spec.leaderWorkerTemplate.{key}", group[key]


def _toleration_problems(where: str, toleration: dict[str, Any]) -> Iterator[str]:
    key, operator = toleration.get("key", ""), toleration.get("operator", "Equal")
    if key and not is_qualified_name(key):
        yield f"{where}.key {key!r} is not a qualified name"
    if not key and operator != "Exists":
        yield f"{where}: operator must be Exists when `key` is empty"
    if toleration.get("tolerationSeconds") is not None and toleration.get("effect") != "NoExecute":
        yield f"{where}: effect must be NoExecute when `tolerationSeconds` is set"
    value = toleration.get("value", "")
    if operator == "Exists" and value:
        yield f"{where}: value must be empty when `operator` is Exists"
    if operator == "Equal" and not is_label_value(value):
        yield f"{where}.value {value!r} is not a valid label value"


def _resource_problems(where: str, resources: dict[str, Any]) -> Iterator[str]:
    requests, limits = resources.get("requests", {}) or {}, resources.get("limits", {}) or {}
    for name in {*requests, *limits}:
        native = name in NATIVE_RESOURCES or name.startswith("hugepages-")
        if not native:
            prefix = name.rpartition("/")[0]
            if not prefix or prefix.endswith("kubernetes.io") or not is_qualified_name(name):
                yield f"{where}: {name!r} is neither a standard resource nor a domain-qualified extended resource"
                continue
        values = {side: quantity(q[name]) for side, q in (("request", requests), ("limit", limits)) if name in q}
        if any(v < 0 for v in values.values()):
            yield f"{where}: {name} must be non-negative"
        if "request" in values and "limit" in values and values["limit"] < values["request"]:
            yield f"{where}: {name} limit {limits[name]} is below its request {requests[name]}"
        if not native:
            if any(v != v.to_integral_value() for v in values.values()):
                yield f"{where}: {name} must be a whole number"
            if len(values) == 2 and values["limit"] != values["request"]:
                yield f"{where}: {name} request must equal its limit (extended resources are not overcommitted)"
            if "request" in values and "limit" not in values:
                yield f"{where}: {name} needs a limit"


def pod_problems(where: str, template: dict[str, Any]) -> list[str]:
    errors = list(_labels(f"{where}.metadata.labels", template.get("metadata", {}).get("labels")))
    spec = template.get("spec", {})
    errors += _labels(f"{where}.spec.nodeSelector", spec.get("nodeSelector"))
    for index, toleration in enumerate(spec.get("tolerations", [])):
        errors += _toleration_problems(f"{where}.spec.tolerations[{index}]", toleration)
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind, []):
            errors += _resource_problems(f"{where}.spec.{kind}[{container['name']}].resources", container.get("resources", {}))
    for volume in spec.get("volumes", []):
        claim = volume.get("persistentVolumeClaim")
        if claim and not is_subdomain(claim["claimName"]):
            errors.append(f"{where}.spec.volumes[{volume['name']}]: claim {claim['claimName']!r} is not a DNS-1123 subdomain")
        empty = volume.get("emptyDir")
        if empty and "sizeLimit" in empty and quantity(empty["sizeLimit"]) <= 0:
            errors.append(f"{where}.spec.volumes[{volume['name']}]: a sizeLimit of {empty['sizeLimit']} leaves no room")
    return errors


def _claim_problems(obj: dict[str, Any]) -> Iterator[str]:
    spec = obj["spec"]
    storage_class = spec.get("storageClassName")
    if storage_class and not is_subdomain(storage_class):
        yield f"spec.storageClassName {storage_class!r} is not a DNS-1123 subdomain"
    storage = spec.get("resources", {}).get("requests", {}).get("storage")
    if storage is None or quantity(storage) <= 0:
        yield f"spec.resources.requests.storage {storage!r} must be greater than zero"


def object_problems(obj: dict[str, Any]) -> list[str]:
    """Everything the API server would refuse in this one object."""
    errors = metadata_problems(obj)
    for where, selector in _selectors(obj):
        errors += _labels(where, selector)
    for where, template in pod_templates(obj):
        errors += pod_problems(where, template)
    if obj["kind"] == "PersistentVolumeClaim":
        errors += _claim_problems(obj)
    return errors


def derived_names(obj: dict[str, Any], replicas: int) -> Iterator[tuple[str, str, str]]:
    """(what, name, rule) of the objects and labels controllers create from this one."""
    name, kind = obj["metadata"]["name"], obj["kind"]
    if kind == "Gateway":
        yield "the data plane Service", name, "dns1035"
    if kind == "Deployment":
        yield "its ReplicaSets", f"{name}-{'x' * HASH_LENGTH}", "subdomain"
    if kind == "LeaderWorkerSet":
        yield "its headless Service", name, "dns1035"
        size = obj["spec"]["leaderWorkerTemplate"].get("size", 1)
        statefulsets = [name] + [f"{name}-{group}" for group in range(replicas)]
        for statefulset in statefulsets:
            yield "a StatefulSet", statefulset, "subdomain"
            yield "a controller-revision-hash label", f"{statefulset}-{'x' * HASH_LENGTH}", "label-value"
            pods = range(replicas) if statefulset == name else range(1, size)
            for ordinal in (min(pods, default=0), max(pods, default=0)):
                yield "a pod's hostname", f"{statefulset}-{ordinal}", "dns-label"


DERIVED_RULES = {"dns1035": is_dns1035, "subdomain": is_subdomain, "label-value": is_label_value, "dns-label": is_dns_label}


def set_problems(objects: Iterable[dict[str, Any]]) -> list[str]:
    """Across every object: two registrations of one Kubernetes object, and names the controllers
    would derive and the API server refuse. A LeaderWorkerSet is checked at the most groups its
    ScaledObject (or its own count) asks for."""
    objects = list(objects)
    identity = Counter(
        (o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else "", o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in objects
    )
    errors = [f"{kind} {namespace}/{name} is registered {count} times" for (_, kind, namespace, name), count in identity.items() if count > 1]
    scaled_to = {
        (s["metadata"]["namespace"], s["spec"]["scaleTargetRef"]["name"]): s["spec"]["maxReplicaCount"]
        for s in objects
        if s["kind"] == "ScaledObject"
    }
    for obj in objects:
        namespace = obj["metadata"].get("namespace")
        replicas = max(obj.get("spec", {}).get("replicas", 1) or 1, scaled_to.get((namespace, obj["metadata"]["name"]), 1))
        for what, name, rule in derived_names(obj, replicas):
            if not DERIVED_RULES[rule](name):
                errors.append(f"{obj['kind']} {namespace}/{obj['metadata']['name']}: {what} {name!r} would be refused ({rule})")
    return errors
