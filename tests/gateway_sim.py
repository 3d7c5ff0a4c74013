"""What agentgateway and the API server would do with a request, from recorded objects only.

1. PreRouting: every AgentgatewayPolicy with `traffic.phase: PreRouting` on the Gateway has its
   `transformation.request` CEL evaluated by cel-rust (`common-expression-language`), with
   `request.body` (absent past the 2 MiB buffer), `request.headers`, `request.path`,
   `request.method` and agentgateway's `json()` bound. A `set` whose expression fails removes
   the header, as agentgateway does.
2. Route selection as Gateway API defines it: parentRefs and the listener's `allowedRoutes`
   (namespaces and kinds), then path/method/header/query matching with the spec's precedence.
3. The winning rule's backend: an InferencePool (cross-namespace only with a ReferenceGrant),
   or, for a backend-less rule, the directResponse policy attached to its route.
4. The pool's endpoint picker Service/Deployment and the Deployments whose pods it selects, with
   the model names those pods serve, read back from their command lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

import cel

GATEWAY_API = "gateway.networking.k8s.io"
INFERENCE = "inference.networking.k8s.io"


@dataclass
class Pods:
    deployment: dict[str, Any]
    served_names: set[str]


@dataclass
class Outcome:
    headers: dict[str, str]
    route: Optional[dict[str, Any]] = None
    rule_index: Optional[int] = None
    pool: Optional[dict[str, Any]] = None
    pods: list[Pods] = field(default_factory=list)
    epp_service: Optional[dict[str, Any]] = None
    epp_deployment: Optional[dict[str, Any]] = None
    status: Optional[int] = None
    body: Optional[str] = None
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def pool_name(self) -> Optional[str]:
        return self.pool["metadata"]["name"] if self.pool else None


def _ns(obj: dict[str, Any]) -> str:
    return obj["metadata"].get("namespace", "default")


def _name(obj: dict[str, Any]) -> str:
    return obj["metadata"]["name"]


def _selects(match_labels: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in match_labels.items())


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not _selects(selector.get("matchLabels", {}), labels):
        return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr.get("values", []):
            return False
        if op == "NotIn" and present and value in expr.get("values", []):
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def served_names_of(deployment: dict[str, Any]) -> set[str]:
    """The model names a model-server Deployment answers to, parsed like the servers do."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    argv = list(container.get("args", []))
    names: set[str] = set()
    i = 0
    while i < len(argv):
        flag = argv[i]
        values = []
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            values.append(argv[j])
            j += 1
        if flag in ("--served-model-name", "--model") and values:
            names.add(values[0])
        elif flag == "--lora-modules":
            for value in values:
                names.add(json.loads(value)["name"] if value.startswith("{") else value.split("=", 1)[0])
        i = j
    if container.get("command", [])[:2] == ["vllm", "serve"] and "--served-model-name" not in argv:
        names.add(argv[0])
    return names


# agentgateway buffers at most this much of a body for CEL (frontend.http.maxBufferSize default).
MAX_BUFFERED_BODY = 2 * 1024 * 1024


class GatewaySimulator:
    def __init__(self, objects: list[dict[str, Any]], gateway_name: str, gateway_namespace: str):
        self.objects = objects
        self.gateway = self._one("Gateway", gateway_name, gateway_namespace)
        self.namespace_labels = {
            _name(o): {**o["metadata"].get("labels", {}), "kubernetes.io/metadata.name": _name(o)}
            for o in self._all("Namespace")
        }

    def _all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def _one(self, kind: str, name: str, namespace: str) -> Optional[dict[str, Any]]:
        found = [o for o in self._all(kind) if _name(o) == name and _ns(o) == namespace]
        return found[0] if found else None

    def _targets(self, policy: dict[str, Any], kind: str, name: str, namespace: str) -> bool:
        return _ns(policy) == namespace and any(
            t["kind"] == kind and t["name"] == name for t in policy["spec"].get("targetRefs", [])
        )

    # 1. PreRouting ---------------------------------------------------------------------------
    def pre_route(self, body: bytes, headers: dict[str, str], path: str, method: str) -> dict[str, str]:
        headers = {k.lower(): v for k, v in headers.items()}
        gw_name, gw_ns = _name(self.gateway), _ns(self.gateway)
        for policy in self._all("AgentgatewayPolicy"):
            traffic = policy["spec"].get("traffic", {})
            if traffic.get("phase") != "PreRouting" or not self._targets(policy, "Gateway", gw_name, gw_ns):
                continue
            request = traffic.get("transformation", {}).get("request", {})
            context = cel.Context()
            context.add_function("json", lambda raw: json.loads(raw))
            request_vars: dict[str, Any] = {"headers": dict(headers), "path": path, "method": method}
            if len(body) <= MAX_BUFFERED_BODY:
                request_vars["body"] = body  # past the buffer the body cannot be read: CEL errors
            context.add_variable("request", request_vars)
            for entry in request.get("set", []):
                try:
                    result = cel.evaluate(entry["value"], context)
                except Exception:  # any failed expression: agentgateway drops the header
                    headers.pop(entry["name"].lower(), None)
                    continue
                headers[entry["name"].lower()] = result if isinstance(result, str) else json.dumps(result)
            for name in request.get("remove", []):
                headers.pop(name.lower(), None)
        return headers

    # 2. Route selection ----------------------------------------------------------------------
    def _listener_accepts(self, route: dict[str, Any], section: Optional[str]) -> bool:
        for listener in self.gateway["spec"]["listeners"]:
            if section and listener["name"] != section:
                continue
            allowed = listener.get("allowedRoutes", {})
            kinds = allowed.get("kinds")
            if kinds and not any(k["kind"] == "HTTPRoute" and k.get("group", GATEWAY_API) == GATEWAY_API for k in kinds):
                continue
            source = allowed.get("namespaces", {}).get("from", "Same")
            route_ns = _ns(route)
            if source == "All":
                return True
            if source == "Same" and route_ns == _ns(self.gateway):
                return True
            if source == "Selector" and _selector_matches(
                allowed["namespaces"].get("selector", {}), self.namespace_labels.get(route_ns, {})
            ):
                return True
        return False

    def _attached_routes(self) -> list[dict[str, Any]]:
        attached = []
        for route in self._all("HTTPRoute"):
            for ref in route["spec"].get("parentRefs", []):
                if (
                    ref.get("kind", "Gateway") == "Gateway"
                    and ref["name"] == _name(self.gateway)
                    and ref.get("namespace", _ns(route)) == _ns(self.gateway)
                    and self._listener_accepts(route, ref.get("sectionName"))
                ):
                    attached.append(route)
                    break
        return attached

    @staticmethod
    def _path_matches(match: dict[str, Any], path: str) -> bool:
        spec = match.get("path", {"type": "PathPrefix", "value": "/"})
        value = spec["value"]
        if spec["type"] == "Exact":
            return path == value
        prefix = value.rstrip("/")
        return prefix == "" or path == prefix or path.startswith(prefix + "/")

    def _match_rank(self, match: dict[str, Any]) -> tuple:
        spec = match.get("path", {"type": "PathPrefix", "value": "/"})
        return (
            spec["type"] == "Exact",
            len(spec["value"]),
            "method" in match,
            len(match.get("headers", [])),
            len(match.get("queryParams", [])),
        )

    def select(self, headers: dict[str, str], path: str, method: str, query: dict[str, str]):
        candidates = []
        for order, route in enumerate(self._attached_routes()):
            for rule_index, rule in enumerate(route["spec"].get("rules", [])):
                for match in rule.get("matches") or [{}]:
                    if not self._path_matches(match, path):
                        continue
                    if "method" in match and match["method"] != method:
                        continue
                    if not all(
                        headers.get(h["name"].lower()) == h["value"] for h in match.get("headers", [])
                    ):
                        continue
                    if not all(query.get(q["name"]) == q["value"] for q in match.get("queryParams", [])):
                        continue
                    # Higher rank wins; ties go to the oldest route (registration order here),
                    # then to "<namespace>/<name>", then to rule order.
                    key = (self._match_rank(match), -order, _earlier_first(f"{_ns(route)}/{_name(route)}"), -rule_index)
                    candidates.append((key, route, rule_index))
        if not candidates:
            return None, None
        _, route, rule_index = max(candidates, key=lambda c: c[0])
        return route, rule_index

    # 3 and 4. Backends -----------------------------------------------------------------------
    def _reference_granted(self, route: dict[str, Any], ref: dict[str, Any], namespace: str) -> bool:
        for grant in self._all("ReferenceGrant"):
            if _ns(grant) != namespace:
                continue
            from_ok = any(
                f["kind"] == "HTTPRoute" and f["namespace"] == _ns(route) for f in grant["spec"].get("from", [])
            )
            to_ok = any(
                t["kind"] == ref["kind"] and t.get("name", ref["name"]) == ref["name"] for t in grant["spec"].get("to", [])
            )
            if from_ok and to_ok:
                return True
        return False

    def _direct_response(self, route: dict[str, Any], rule_index: int) -> Optional[dict[str, Any]]:
        rule_name = route["spec"]["rules"][rule_index].get("name")
        for policy in self._all("AgentgatewayPolicy"):
            response = policy["spec"].get("traffic", {}).get("directResponse")
            if response is None or _ns(policy) != _ns(route):
                continue
            for target in policy["spec"].get("targetRefs", []):
                if target["kind"] == "HTTPRoute" and target["name"] == _name(route) and target.get("sectionName") in (None, rule_name):
                    return response
        return None

    def request(
        self,
        body: bytes,
        headers: Optional[dict[str, str]] = None,
        path: str = "/v1/chat/completions",
        method: str = "POST",
        query: Optional[dict[str, str]] = None,
    ) -> Outcome:
        seen = self.pre_route(body, headers or {}, path, method)
        route, rule_index = self.select(seen, path, method, query or {})
        outcome = Outcome(headers=seen, route=route, rule_index=rule_index)
        if route is None:
            outcome.status, outcome.body = 404, "route not found"  # agentgateway's plain-text answer
            return outcome
        rule = route["spec"]["rules"][rule_index]
        backends = rule.get("backendRefs", [])
        if not backends:
            response = self._direct_response(route, rule_index)
            if response is None:
                outcome.status, outcome.body = 500, "no valid backends"
                return outcome
            outcome.status, outcome.body = response["status"], response.get("body")
            for header in response.get("headers", []):
                outcome.response_headers[header["name"].lower()] = cel.evaluate(header["value"])
            return outcome
        ref = backends[0]
        namespace = ref.get("namespace", _ns(route))
        if namespace != _ns(route) and not self._reference_granted(route, ref, namespace):
            outcome.status, outcome.body = 500, "backend reference not permitted"
            return outcome
        if (ref.get("group"), ref.get("kind")) != (INFERENCE, "InferencePool"):
            outcome.status, outcome.body = 500, f"unexpected backend {ref}"
            return outcome
        pool = self._one("InferencePool", ref["name"], namespace)
        if pool is None:
            outcome.status, outcome.body = 500, "backend not found"
            return outcome
        outcome.pool = pool
        self._resolve_pool(outcome, pool)
        outcome.status = 200 if outcome.pods else 503
        return outcome

    def _resolve_pool(self, outcome: Outcome, pool: dict[str, Any]) -> None:
        namespace = _ns(pool)
        selector = pool["spec"]["selector"]["matchLabels"]
        for deployment in self._all("Deployment"):
            pod_labels = deployment["spec"]["template"]["metadata"].get("labels", {})
            if _ns(deployment) == namespace and _selects(selector, pod_labels):
                outcome.pods.append(Pods(deployment, served_names_of(deployment)))
        picker = pool["spec"].get("endpointPickerRef")
        if picker:
            service = self._one("Service", picker["name"], namespace)
            outcome.epp_service = service
            if service is not None:
                for deployment in self._all("Deployment"):
                    pod_labels = deployment["spec"]["template"]["metadata"].get("labels", {})
                    if _ns(deployment) == namespace and _selects(service["spec"].get("selector", {}), pod_labels):
                        outcome.epp_deployment = deployment


def _earlier_first(text: str) -> tuple:
    """Sort key that makes alphabetically earlier names win under max()."""
    return tuple(-ord(c) for c in text)


def epp_flag(deployment: dict[str, Any], flag: str) -> Optional[str]:
    argv = deployment["spec"]["template"]["spec"]["containers"][0].get("args", [])
    return argv[argv.index(flag) + 1] if flag in argv else None

