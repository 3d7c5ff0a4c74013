"""NetworkPolicy semantics (ingress only), as a policy-enforcing CNI applies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway_sim import _selector_matches


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)


def _peer_matches(peer: dict[str, Any], policy_namespace: str, source: Pod, namespace_labels: dict) -> bool:
    if "namespaceSelector" in peer:
        labels = {**namespace_labels.get(source.namespace, {}), "kubernetes.io/metadata.name": source.namespace}
        if not _selector_matches(peer["namespaceSelector"], labels):
            return False
    elif source.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or _selector_matches(peer["podSelector"], source.labels)


def ingress_allowed(objects: list[dict[str, Any]], source: Pod, target: Pod, port: int) -> bool:
    namespace_labels = {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in objects if o["kind"] == "Namespace"}
    policies = [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["metadata"]["namespace"] == target.namespace
        and "Ingress" in o["spec"].get("policyTypes", ["Ingress"])
        and _selector_matches(o["spec"]["podSelector"], target.labels)
    ]
    if not policies:
        return True  # a pod no policy selects is not isolated
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            peers = rule.get("from")
            if not peers or any(_peer_matches(peer, target.namespace, source, namespace_labels) for peer in peers):
                return True
    return False
