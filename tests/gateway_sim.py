"""What agentgateway and the API server would do with a request, from recorded objects only.

1. PreRouting, in agentgateway's order (proxy/httpproxy.rs `apply_gateway_policies`): API key
   authentication (Strict: no or unknown key -> 401), then authorization (every rule of every
   policy merged: a Deny match denies, every Require must hold, then one Allow must match; an
   expression that fails counts as false -> 403), then `transformation.request`. CEL is
   evaluated by cel-rust (`common-expression-language`) with `request.body` (absent past the
   2 MiB buffer), `request.headers`, `request.path`, `request.method`, `apiKey` (the key's
   metadata) and agentgateway's `json()` bound. A `set` whose expression fails removes the
   header, as agentgateway does.
2. Route selection as Gateway API defines it: parentRefs and the listener's `allowedRoutes`
   (namespaces and kinds), then path/method/header/query matching with the spec's precedence.
3. Route-phase policies on the Gateway and the route: `rateLimit.global` against the
   rate-limit service its backendRef names (Requests before the call; Tokens checked before and
   charged after the response), and a backend-less rule's directResponse.
4. The winning rule's backend (cross-namespace only with a ReferenceGrant): an
   AgentgatewayBackend whose custom AI provider names an InferencePool (the LLM path), an
   InferencePool, or a Service, answered by the nginx behind it from its own config and mounts.
5. The pool's endpoint picker Service/Deployment and the Deployments whose pods it selects, with
   the model names those pods serve, read back from their command lines.
6. The route's `transformation.response` (with `response.body`, `response.code` and the
   request's `apiKey`), and the Gateway's `frontend.metrics` attributes for the request.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Optional

import cel

from cost_catalog import call_cost, read_catalog
from goyaml import GoYamlError, Limit, limit_for, load_ratelimit_config

GATEWAY_API = "gateway.networking.k8s.io"
INFERENCE = "inference.networking.k8s.io"
AGENTGATEWAY = "agentgateway.dev"


@dataclass
class Pods:
    deployment: dict[str, Any]
    served_names: set[str]
    """What the pod answers to on the pool's target port."""
    listener: Optional[str] = None
    """The container that takes the request on that port (a decode pod's: its routing sidecar)."""

    @property
    def labels(self) -> dict[str, str]:
        return self.deployment["spec"]["template"]["metadata"].get("labels", {})


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
    api_key: Optional[dict[str, Any]] = None
    """The authenticated key's claims as CEL sees them (`apiKey`)."""
    llm_backend: Optional[dict[str, Any]] = None
    """The AgentgatewayBackend the request went through (tokens are counted only there)."""
    service: Optional[dict[str, Any]] = None
    metric_labels: dict[str, str] = field(default_factory=dict)
    upstream_headers: dict[str, str] = field(default_factory=dict)
    """The request headers after the route's policies: what the backend, and a pool's endpoint
    picker, receive."""
    upstream_body: bytes = b""
    """The body after the route's policies."""
    cost: Optional[Decimal] = None
    """What the price catalog says the call cost (None: unpriced, or not a model call)."""

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


# LeaderWorkerSet v0.10.0 labels every pod with its set's name and its index in the group (the
# leader is 0); pkg/utils/pod and api/leaderworkerset/v1.
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"


def pods_of(workload: dict[str, Any]) -> list[dict[str, Any]]:
    """Each kind of pod a Deployment or LeaderWorkerSet runs, as a one-template workload labelled
    the way its controller labels the pods (a set's leader, then one worker per other index)."""
    if workload.get("kind") == "Deployment":
        return [workload]
    if workload.get("kind") != "LeaderWorkerSet":
        return []
    group = workload["spec"]["leaderWorkerTemplate"]
    name = workload["metadata"]["name"]
    pods = []
    for index in range(group["size"]):
        template = group["leaderTemplate"] if index == 0 and "leaderTemplate" in group else group["workerTemplate"]
        pod_labels = {**template["metadata"].get("labels", {}), LWS_NAME_LABEL: name, LWS_WORKER_INDEX_LABEL: str(index)}
        pods.append(
            {**workload, "spec": {"template": {**template, "metadata": {**template["metadata"], "labels": pod_labels}}}}
        )
    return pods


# The llm-d router's P/D sidecar (cmd/pd-sidecar; pkg/sidecar/proxy/options.go at v0.10.0).
SIDECAR_IMAGE = "ghcr.io/llm-d/llm-d-router-disagg-sidecar"
DEFAULT_PORT = 8000  # vLLM's, the simulator's and the sidecar's --port default


def _flag(argv: list[str], flag: str) -> Optional[str]:
    """`--flag value` or `--flag=value`."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def running_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """A pod's serving containers: native sidecars (init containers that keep running) too."""
    spec = pod["spec"]["template"]["spec"]
    return [c for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"] + spec["containers"]


def listener(pod: dict[str, Any], port: int) -> Optional[dict[str, Any]]:
    """The container that listens on `port`, read from its own --port (what the process binds,
    not the declared containerPort). A headless vLLM group member listens nowhere."""
    for container in running_containers(pod):
        argv = list(container.get("args", []))
        if "--headless" in argv:
            continue
        if int(_flag(argv, "--port") or DEFAULT_PORT) == port:
            return container
    return None


def served_names_at(pod: dict[str, Any], port: int) -> tuple[set[str], Optional[str]]:
    """What a pod answers to on `port`, and which container took the request: a P/D sidecar
    passes the request to the server on its --model-server-port (default 8200)."""
    container = listener(pod, port)
    if container is None:
        return set(), None
    if container["image"].startswith(SIDECAR_IMAGE + ":"):
        behind = listener(pod, int(_flag(container.get("args", []), "--model-server-port") or 8200))
        return (served_names_of(behind) if behind else set()), container["name"]
    return served_names_of(container), container["name"]


def served_names_of(container: dict[str, Any]) -> set[str]:
    """The model names a model server answers to, parsed like the servers do: the
    `--served-model-name`s, else the model (vLLM's positional one or `--model`), and the LoRA
    modules (vLLM serve_args; llm-d-inference-sim v0.8.2 config.go, helpers.go isValidModel)."""
    argv = list(container.get("args", []))
    served: list[str] = []
    vllm = container.get("command", [])[:2] == ["vllm", "serve"]
    models: list[str] = [argv[0]] if vllm else []
    adapters: set[str] = set()
    i = 0
    while i < len(argv):
        flag = argv[i]
        values = []
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            values.append(argv[j])
            j += 1
        if flag == "--served-model-name":
            served += values
        elif flag == "--model" and values:
            models.append(values[0])
        elif flag == "--lora-modules":
            adapters |= set(lora_modules(values) if vllm else (json.loads(value)["name"] for value in values))
        i = j
    return set(served or models) | adapters


@dataclass
class Usage:
    """What a model server reports for one call."""

    prompt: int
    cached: int
    completion: int

    @property
    def total(self) -> int:
        return self.prompt + self.completion


def _cost_charge(expression: str, context: cel.Context) -> Optional[int]:
    """A `cost` expression's charge: a whole number or nothing (remoteratelimit.rs as_unsigned).
    celx's `math.ceil` is agentgateway's own (crates/celx/src/math.rs); cel-rust's Python binding
    has no qualified functions, so it is given under another name."""
    context.add_function("math_ceil", lambda value: float(math.ceil(value)))
    try:
        value = cel.evaluate(expression.replace("math.ceil(", "math_ceil("), context)
    except Exception:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def lora_modules(values: list[str]) -> dict[str, str]:
    """vLLM v0.19.1's reading of `--lora-modules` (LoRAParserAction, entrypoints/openai/cli_args.py):
    `name=path` when the item has an `=` and no `,`, split on every `=` (more than one fails to
    unpack and vLLM exits); anything else is JSON with `name` and `path`, or vLLM exits."""
    modules = {}
    for item in values:
        if "=" in item and "," not in item:
            name, path = item.split("=")
        else:
            parsed = json.loads(item)
            name, path = parsed["name"], parsed["path"]
        modules[name] = path
    return modules


# agentgateway buffers at most this much of a body for CEL (frontend.http.maxBufferSize default).
MAX_BUFFERED_BODY = 2 * 1024 * 1024


class ClusterObjects:
    """The recorded objects, looked up as a controller would."""

    def __init__(self, objects: list[dict[str, Any]]):
        self.objects = objects

    def _all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def _one(self, kind: str, name: str, namespace: str) -> Optional[dict[str, Any]]:
        found = [o for o in self._all(kind) if _name(o) == name and _ns(o) == namespace]
        return found[0] if found else None


class GatewaySimulator(ClusterObjects):
    def __init__(
        self,
        objects: list[dict[str, Any]],
        gateway_name: str,
        gateway_namespace: str,
        rate_limiter: Optional["RateLimitSimulator"] = None,
    ):
        super().__init__(objects)
        self.gateway = self._one("Gateway", gateway_name, gateway_namespace)
        self.namespace_labels = {
            _name(o): {**o["metadata"].get("labels", {}), "kubernetes.io/metadata.name": _name(o)}
            for o in self._all("Namespace")
        }
        self.rate_limiter = rate_limiter
        self.price_catalog = self._price_catalog()

    def _price_catalog(self) -> dict:
        """The model cost catalog the data plane mounts: the Gateway's AgentgatewayParameters'
        `modelCatalog` ConfigMaps, merged in order (a later source replaces a whole model). The
        mount is not optional, so a missing ConfigMap or key keeps the data plane from starting."""
        ref = (self.gateway or {}).get("spec", {}).get("infrastructure", {}).get("parametersRef")
        parameters = self._one("AgentgatewayParameters", ref["name"], _ns(self.gateway)) if ref else None
        catalog: dict = {}
        for source in ((parameters or {}).get("spec", {}).get("modelCatalog") or {}).get("sources", []):
            config_map = self._one("ConfigMap", source["configMap"]["name"], _ns(self.gateway))
            key = source["configMap"].get("key", "catalog.json")
            if config_map is None or key not in config_map.get("data", {}):
                raise RuntimeError(f"the data plane cannot mount the model catalog {source}")
            catalog.update(read_catalog(config_map["data"][key]))
        return catalog

    def _targets(self, policy: dict[str, Any], kind: str, name: str, namespace: str) -> bool:
        """A policy attaches to objects of its own namespace it names (`targetRefs`) or whose
        labels its `targetSelectors` match."""
        if _ns(policy) != namespace:
            return False
        if any(t["kind"] == kind and t["name"] == name for t in policy["spec"].get("targetRefs", [])):
            return True
        selectors = [t for t in policy["spec"].get("targetSelectors", []) if t["kind"] == kind]
        target = self._one(kind, name, namespace) if selectors else None
        labels = (target or {}).get("metadata", {}).get("labels", {})
        return any(target is not None and _selects(t["matchLabels"], labels) for t in selectors)

    def _gateway_policies(self, phase: str) -> list[dict[str, Any]]:
        gw_name, gw_ns = _name(self.gateway), _ns(self.gateway)
        return [
            p
            for p in self._all("AgentgatewayPolicy")
            if self._targets(p, "Gateway", gw_name, gw_ns)
            and p["spec"].get("traffic", {}).get("phase", "PostRouting") == phase
        ]

    # 1. PreRouting ---------------------------------------------------------------------------
    def _context(self, request_vars: dict[str, Any], api_key: Optional[dict[str, Any]]) -> cel.Context:
        context = cel.Context()
        # agentgateway's own functions the stack's expressions use (crates/celx/src/general.rs).
        context.add_function("json", lambda raw: json.loads(raw))
        context.add_function("toJson", lambda value: json.dumps(value))
        context.add_function("merge", lambda left, right: {**left, **right})
        context.add_variable("request", request_vars)
        if api_key is not None:
            context.add_variable("apiKey", api_key)
        return context

    def _authenticate(self, policy: dict[str, Any], headers: dict[str, str]) -> tuple[Optional[int], Optional[dict]]:
        """agentgateway's apiKeyAuthentication: the credential from `Authorization: Bearer`, looked
        up by SHA-256 among the entries of the Secrets the selector matches in the policy's
        namespace. Returns (rejection status, claims)."""
        auth = policy["spec"]["traffic"]["apiKeyAuthentication"]
        selector = auth["secretSelector"]["matchLabels"]
        users: dict[str, dict[str, Any]] = {}
        for secret in self._all("Secret"):
            if _ns(secret) != _ns(policy) or not _selects(selector, secret["metadata"].get("labels", {})):
                continue
            for value in secret.get("stringData", {}).values():
                text = value.strip()
                entry = json.loads(text) if text.startswith("{") else {"key": text}
                digest = entry["keyHash"].removeprefix("sha256:") if "keyHash" in entry else _sha256(entry["key"])
                users[digest.lower()] = entry.get("metadata") or {}
        mode = auth.get("mode", "Strict")
        header = headers.get("authorization", "")
        credential = header[len("Bearer "):] if header.startswith("Bearer ") else None
        if credential is None:
            return (401 if mode == "Strict" else None), None
        metadata = users.get(_sha256(credential))
        if metadata is None:
            return (None if mode == "Permissive" else 401), None
        headers.pop("authorization")  # the credential never travels upstream
        return None, {**metadata, "key": "<redacted>"}

    @staticmethod
    def _rule_holds(expression: str, context: cel.Context) -> bool:
        try:
            return cel.evaluate(expression, context) is True
        except Exception:  # an expression that fails to evaluate counts as false
            return False

    def _authorized(self, policies: list[dict[str, Any]], context: cel.Context) -> bool:
        """RuleSets::validate: any Deny match denies, every Require must hold, then with Allow
        rules present one must match. The controller turns each Allow match expression into its
        own rule (TranslateAuthorization), so Allow expressions are OR'ed."""
        allow, deny, require = [], [], []
        for policy in policies:
            authz = policy["spec"].get("traffic", {}).get("authorization")
            if authz:
                {"Allow": allow, "Deny": deny, "Require": require}[authz.get("action", "Allow")].extend(
                    authz["policy"]["matchExpressions"]
                )
        if any(self._rule_holds(e, context) for e in deny):
            return False
        if not all(self._rule_holds(e, context) for e in require):
            return False
        return not allow or any(self._rule_holds(e, context) for e in allow)

    def pre_route(
        self, body: bytes, headers: dict[str, str], path: str, method: str, outcome: Optional[Outcome] = None
    ) -> dict[str, str]:
        outcome = outcome or Outcome(headers={})
        headers = {k.lower(): v for k, v in headers.items()}
        policies = self._gateway_policies("PreRouting")
        for policy in policies:
            if "apiKeyAuthentication" in policy["spec"].get("traffic", {}):
                rejected, outcome.api_key = self._authenticate(policy, headers)
                if rejected:
                    outcome.status, outcome.body = rejected, "api key authentication failure"
                    return headers
        request_vars: dict[str, Any] = {"headers": dict(headers), "path": path, "method": method}
        if len(body) <= MAX_BUFFERED_BODY:
            request_vars["body"] = body  # past the buffer the body cannot be read: CEL errors
        context = self._context(request_vars, outcome.api_key)
        if not self._authorized(policies, context):
            outcome.status, outcome.body = 403, "authorization failed"
            return headers
        for policy in policies:
            self._transform_request(policy, headers, context)
        return headers

    @staticmethod
    def _transform_request(policy: dict[str, Any], headers: dict[str, str], context: cel.Context) -> Optional[bytes]:
        """`transformation.request` as transformation_cel.rs applies it: add, then set, then remove;
        a header whose expression fails is removed, so a client's own value never survives. Returns
        the new body when there is a body expression: empty when it fails."""
        request = policy["spec"].get("traffic", {}).get("transformation", {}).get("request", {})
        for action in ("add", "set"):
            for entry in request.get(action, []):
                name = entry["name"].lower()
                try:
                    result = cel.evaluate(entry["value"], context)
                except Exception:  # any failed expression: agentgateway drops the header
                    headers.pop(name, None)
                    continue
                value = result if isinstance(result, str) else json.dumps(result)
                headers[name] = f"{headers[name]},{value}" if action == "add" and name in headers else value
        for name in request.get("remove", []):
            headers.pop(name.lower(), None)
        if "body" not in request:
            return None
        try:
            result = cel.evaluate(request["body"], context)
        except Exception:
            return b""
        return result if isinstance(result, bytes) else (result if isinstance(result, str) else json.dumps(result)).encode()

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

    # 3 to 6. Route policies, backends, responses ----------------------------------------------
    def _reference_granted(self, source: dict[str, Any], ref: dict[str, Any], namespace: str) -> bool:
        for grant in self._all("ReferenceGrant"):
            if _ns(grant) != namespace:
                continue
            from_ok = any(
                f["kind"] == source["kind"] and f["namespace"] == _ns(source) for f in grant["spec"].get("from", [])
            )
            to_ok = any(
                t["kind"] == ref.get("kind", "Service") and t.get("name", ref["name"]) == ref["name"]
                for t in grant["spec"].get("to", [])
            )
            if from_ok and to_ok:
                return True
        return False

    def _route_policies(self, route: dict[str, Any]) -> list[dict[str, Any]]:
        """PostRouting traffic policies that apply to a request on `route`: the Gateway's first."""
        on_route = [
            p for p in self._all("AgentgatewayPolicy") if self._targets(p, "HTTPRoute", _name(route), _ns(route))
        ]
        return self._gateway_policies("PostRouting") + on_route

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
        completion_tokens: int = 0,
        prompt_tokens: int = 0,
        cached_tokens: int = 0,
    ) -> Outcome:
        """The usage the model server reports for the call: `prompt_tokens` (of which
        `cached_tokens` came from the prefix cache) and `completion_tokens`; token budgets are
        charged their sum, spend budgets the cost the price catalog gives them."""
        outcome = Outcome(headers={})
        outcome.headers = seen = self.pre_route(body, headers or {}, path, method, outcome)
        request_vars: dict[str, Any] = {"headers": dict(seen), "path": path, "method": method}
        if len(body) <= MAX_BUFFERED_BODY:
            request_vars["body"] = body
        context = self._context(request_vars, outcome.api_key)
        self._metric_labels(outcome, context)
        if outcome.status is not None:
            return outcome
        route, rule_index = self.select(seen, path, method, query or {})
        outcome.route, outcome.rule_index = route, rule_index
        if route is None:
            outcome.status, outcome.body = 404, "route not found"  # agentgateway's plain-text answer
            return outcome
        policies = self._route_policies(route)
        limits = [p for p in policies if "rateLimit" in p["spec"].get("traffic", {})]
        for limit in limits:
            if self._rate_limited(outcome, limit, "Requests", context, hits=1):
                return outcome
        # Route policies run before the backend is called; of several transformations the most
        # specific attachment (the route's over the Gateway's) is the one that applies.
        outcome.upstream_headers, outcome.upstream_body = dict(seen), body
        transforming = [p for p in policies if "transformation" in p["spec"].get("traffic", {})]
        if transforming:
            new_body = self._transform_request(transforming[-1], outcome.upstream_headers, context)
            if new_body is not None:
                outcome.upstream_body = new_body
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
        kind = (ref.get("group", ""), ref.get("kind", "Service"))
        if kind == (AGENTGATEWAY, "AgentgatewayBackend"):
            usage = Usage(prompt_tokens, cached_tokens, completion_tokens)
            self._llm_backend(outcome, ref["name"], namespace, limits, context, usage, path)
        elif kind == (INFERENCE, "InferencePool"):
            self._pool_backend(outcome, ref["name"], namespace)
        elif kind == ("", "Service"):
            self._service_backend(outcome, ref, namespace, path)
        else:
            outcome.status, outcome.body = 500, f"unexpected backend {ref}"
        self._transform_response(outcome, policies, request_vars)
        return outcome

    def _pool_backend(self, outcome: Outcome, name: str, namespace: str) -> None:
        pool = self._one("InferencePool", name, namespace)
        if pool is None:
            outcome.status, outcome.body = 500, "backend not found"
            return
        outcome.pool = pool
        self._resolve_pool(outcome, pool)
        outcome.status = 200 if outcome.pods else 503

    def _llm_backend(
        self,
        outcome: Outcome,
        name: str,
        namespace: str,
        limits: list[dict[str, Any]],
        context: cel.Context,
        usage: "Usage",
        path: str,
    ) -> None:
        """The LLM path: token budgets are checked before the call with the input tokens known
        (none without a tokenizer) and charged the usage the answer reports afterwards; a
        descriptor with a `cost` expression is charged what it evaluates to, with `llm.cost` set
        when the catalog prices the call (llm/mod.rs LLMContext; http/remoteratelimit.rs)."""
        backend = self._one("AgentgatewayBackend", name, namespace)
        provider = (backend or {}).get("spec", {}).get("ai", {}).get("provider", {}).get("custom", {})
        target = provider.get("backendRef", {})
        if backend is None or (target.get("group"), target.get("kind")) != (INFERENCE, "InferencePool"):
            outcome.status, outcome.body = 500, f"backend {namespace}/{name} does not reach an InferencePool"
            return
        outcome.llm_backend = backend
        for limit in limits:
            if self._rate_limited(outcome, limit, "Tokens", context, hits=0):
                return
        # custom backendRef may only name a pool in the backend's own namespace
        self._pool_backend(outcome, target["name"], namespace)
        if outcome.status == 200:
            if not reports_usage(outcome.upstream_body, path):
                usage = Usage(0, 0, 0)
            outcome.body = json.dumps({"object": "chat.completion", "usage": {"total_tokens": usage.total}})
            model = json.loads(outcome.upstream_body).get("model", "")
            # A custom AI backend prices under the provider `custom` (crates/llm/src/custom.rs).
            cost = call_cost(self.price_catalog, "custom", model, model, usage.prompt, usage.completion, usage.cached)
            outcome.cost = cost
            if cost is not None:
                context.add_variable("llm", {"cost": {"total": float(cost)}})
            for limit in limits:
                self._rate_limited(outcome, limit, "Tokens", context, hits=usage.total, after_response=True)

    def _rate_limited(
        self,
        outcome: Outcome,
        policy: dict[str, Any],
        unit: str,
        context: cel.Context,
        hits: int,
        after_response: bool = False,
    ) -> bool:
        """`rateLimit.global` of `policy`: its backendRef defaults to the policy's namespace and may
        name a Service elsewhere only where a ReferenceGrant there allows it."""
        limit = policy["spec"]["traffic"]["rateLimit"]["global"]
        descriptors = []
        for descriptor in limit["descriptors"]:
            if descriptor.get("unit", "Requests") != unit:
                continue
            try:
                entries = [(e["name"], cel.evaluate(e["expression"], context)) for e in descriptor["entries"]]
            except Exception:  # a descriptor whose entries fail to evaluate is not sent
                continue
            charge = hits
            if after_response and "cost" in descriptor:
                charge = _cost_charge(descriptor["cost"], context)
                if charge is None:  # the expression failed or is no whole number: not sent
                    continue
            descriptors.append((entries, charge))
        if not descriptors:
            return False
        ref = limit["backendRef"]
        namespace = ref.get("namespace", _ns(policy))
        limiter = self.rate_limiter
        reachable = limiter is not None and (namespace == _ns(policy) or self._reference_granted(policy, ref, namespace))
        limits = limiter.limits(ref.get("name"), namespace, ref.get("port")) if reachable else None
        if limits is None:  # nothing answers there
            if after_response or limit.get("failureMode", "FailClosed") == "FailOpen":
                return False
            outcome.status, outcome.body = 500, "rate limit service failed"
            return True
        over, headers = limiter.should_rate_limit(limits.get(limit["domain"], {}), limit["domain"], descriptors)
        outcome.response_headers.update(headers)
        if over and not after_response:  # the response-side charge is fire and forget
            outcome.status, outcome.body = 429, "rate limit exceeded"
            return True
        return False

    def _service_backend(self, outcome: Outcome, ref: dict[str, Any], namespace: str, path: str) -> None:
        """A Service answered by the nginx pods behind it, from the server config and the files
        their volumes mount."""
        service = self._one("Service", ref["name"], namespace)
        if service is None or not any(p["port"] == ref.get("port") for p in service["spec"]["ports"]):
            outcome.status, outcome.body = 500, f"no service port for {ref}"
            return
        outcome.service = service
        port = next(p for p in service["spec"]["ports"] if p["port"] == ref["port"])
        for deployment in self._all("Deployment"):
            labels = deployment["spec"]["template"]["metadata"].get("labels", {})
            if _ns(deployment) == namespace and _selects(service["spec"]["selector"], labels):
                nginx = NginxPod(self, deployment)
                outcome.status, outcome.body, sent = nginx.get(path, port["targetPort"], outcome.upstream_headers)
                outcome.response_headers.update(sent)
                return
        outcome.status, outcome.body = 503, "no endpoints"

    def _transform_response(self, outcome: Outcome, policies: list[dict[str, Any]], request_vars: dict) -> None:
        for policy in policies:
            response = policy["spec"].get("traffic", {}).get("transformation", {}).get("response", {})
            if "body" not in response:
                continue
            context = self._context(request_vars, outcome.api_key)
            context.add_variable("response", {"code": outcome.status, "body": (outcome.body or "").encode()})
            try:
                result = cel.evaluate(response["body"], context)
            except Exception:  # agentgateway sends an empty body when the expression fails
                result = b""
            outcome.body = result.decode() if isinstance(result, bytes) else json.dumps(result)

    def _metric_labels(self, outcome: Outcome, context: cel.Context) -> None:
        for policy in self._all("AgentgatewayPolicy"):
            if not self._targets(policy, "Gateway", _name(self.gateway), _ns(self.gateway)):
                continue
            for attribute in policy["spec"].get("frontend", {}).get("metrics", {}).get("attributes", {}).get("add", []):
                try:
                    outcome.metric_labels[attribute["name"]] = str(cel.evaluate(attribute["expression"], context))
                except Exception:  # agentgateway: a failed expression labels "unknown"
                    outcome.metric_labels[attribute["name"]] = "unknown"

    def _resolve_pool(self, outcome: Outcome, pool: dict[str, Any]) -> None:
        namespace = _ns(pool)
        selector = pool["spec"]["selector"]["matchLabels"]
        for workload in self._all("Deployment") + self._all("LeaderWorkerSet"):
            for pod in pods_of(workload):
                pod_labels = pod["spec"]["template"]["metadata"].get("labels", {})
                if _ns(pod) == namespace and _selects(selector, pod_labels):
                    served, taken_by = served_names_at(pod, pool["spec"]["targetPorts"][0]["number"])
                    outcome.pods.append(Pods(pod, served, taken_by))
        picker = pool["spec"].get("endpointPickerRef")
        if picker:
            service = self._one("Service", picker["name"], namespace)
            outcome.epp_service = service
            if service is not None:
                for deployment in self._all("Deployment"):
                    pod_labels = deployment["spec"]["template"]["metadata"].get("labels", {})
                    if _ns(deployment) == namespace and _selects(service["spec"].get("selector", {}), pod_labels):
                        outcome.epp_deployment = deployment


def reports_usage(body: bytes, path: str) -> bool:
    """Whether the model server reports usage for this request: always unless streamed, and a
    streamed answer only with `stream_options.include_usage` (OpenAI's API; vLLM's serving_chat.py
    and serving_completion.py), which agentgateway adds to a streamed chat request without any
    `stream_options` (crates/agentgateway/src/llm/mod.rs process_completions_request)."""
    request = json.loads(body)
    if request.get("stream") is not True:
        return True
    if path == "/v1/chat/completions" and "stream_options" not in request:
        return True
    return (request.get("stream_options") or {}).get("include_usage") is True


def _earlier_first(text: str) -> tuple:
    """Sort key that makes alphabetically earlier names win under max()."""
    return tuple(-ord(c) for c in text)


def epp_flag(deployment: dict[str, Any], flag: str) -> Optional[str]:
    argv = deployment["spec"]["template"]["spec"]["containers"][0].get("args", [])
    return argv[argv.index(flag) + 1] if flag in argv else None



def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _volume_files(objects_by_kind, deployment: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """Every file a container sees through ConfigMap and Secret volumes: path -> content."""
    pod = deployment["spec"]["template"]["spec"]
    namespace = _ns(deployment)
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    files = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            source = objects_by_kind("ConfigMap", volume["configMap"]["name"], namespace)
            data = (source or {}).get("data", {})
        elif "secret" in volume:
            source = objects_by_kind("Secret", volume["secret"]["secretName"], namespace)
            data = (source or {}).get("stringData", {})
            items = volume["secret"].get("items")
            if items:
                data = {item["path"]: data[item["key"]] for item in items if item["key"] in data}
        else:
            continue
        for key, content in data.items():
            files[f"{mount['mountPath'].rstrip('/')}/{key}"] = content
    return files


def _http_time(value: str) -> float:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return -1.0  # nginx's ngx_http_parse_time answers NGX_ERROR, which compares as earlier


class NginxPod:
    """Just enough of nginx to answer from our server config: `listen`, exact locations with
    `alias` (a file) or `return` (a status and body). A file is served as nginx 1.30's static
    module and header filters do unless the location turns them off:
    - ngx_http_not_modified_filter_module, on a 200 with a Last-Modified: `If-Unmodified-Since`
      earlier than it, or an `If-Match` that is not `*` or the ETag, answer 412; then
      `If-Modified-Since` (unless `if_modified_since off`, and `exact` by default) and
      `If-None-Match` (`*` matches even with `etag off`) answer 304 with no body;
    - ngx_http_range_filter_module: a single `Range: bytes=A-B` answers 206 with that slice
      unless `max_ranges 0`.
    """

    LAST_MODIFIED = "Wed, 02 Dec 2026 00:00:00 GMT"  # the file's mtime, as kubelet wrote it

    def __init__(self, cluster: ClusterObjects, deployment: dict[str, Any]):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        self.files = _volume_files(cluster._one, deployment, container)
        configs = [c for path, c in self.files.items() if path.startswith("/etc/nginx/conf.d/") and path.endswith(".conf")]
        self.config = "\n".join(configs)

    def get(self, path: str, port: int, headers: Optional[dict[str, str]] = None) -> tuple[int, str, dict[str, str]]:
        if f"listen {port};" not in self.config:
            return 503, "connection refused", {}
        for location, block in re.findall(r"location\s+=\s+(\S+)\s*\{(.*?)\n    \}", self.config, re.S):
            if location != path:
                continue
            alias = re.search(r"alias\s+(\S+);", block)
            if alias:
                content = self.files.get(alias.group(1))
                if content is None:
                    return 404, "file not found", {}
                return self._static(block, content, {k.lower(): v for k, v in (headers or {}).items()})
            returned = re.search(r"return\s+(\d+)\s+(.*);", block)
            if returned:
                return int(returned.group(1)), returned.group(2).strip("'\""), {}
        fallback = re.search(r"location\s+/\s*\{.*?return\s+(\d+)\s+'(.*?)';", self.config, re.S)
        return (int(fallback.group(1)), fallback.group(2), {}) if fallback else (404, "", {})

    def _static(self, block: str, content: str, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        def setting(name: str, default: str) -> str:
            found = re.search(rf"\b{name}\s+(\S+);", block)
            return found.group(1) if found else default

        etag = f'"{len(content):x}-sim"' if setting("etag", "on") == "on" else None
        sent = {"last-modified": self.LAST_MODIFIED, **({"etag": etag} if etag else {})}

        def matches(value: str) -> bool:
            return value.strip() == "*" or (etag is not None and etag in [v.strip() for v in value.split(",")])

        if "if-unmodified-since" in headers and _http_time(headers["if-unmodified-since"]) < _http_time(self.LAST_MODIFIED):
            return 412, "<html>412 Precondition Failed</html>", {}
        if "if-match" in headers and not matches(headers["if-match"]):
            return 412, "<html>412 Precondition Failed</html>", {}
        if "if-modified-since" in headers or "if-none-match" in headers:
            modified = "if-modified-since" in headers and (
                setting("if_modified_since", "exact") == "off" or headers["if-modified-since"] != self.LAST_MODIFIED
            )
            unmatched = "if-none-match" in headers and not matches(headers["if-none-match"])
            if not (modified or unmatched):
                return 304, "", sent
        wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", headers.get("range", ""))
        if wanted and setting("max_ranges", "unlimited") != "0":
            first, last = int(wanted.group(1)), min(int(wanted.group(2)), len(content) - 1)
            return 206, content[first : last + 1], {**sent, "content-range": f"bytes {first}-{last}/{len(content)}"}
        return 200, content, sent


class RateLimitSimulator(ClusterObjects):
    """envoyproxy/ratelimit as the stack deploys it: the Service named by a backendRef must
    select the rate-limit Deployment on its gRPC port, and the limits are the YAML files that
    Deployment loads from RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/RUNTIME_APPDIRECTORY. Counters are
    per (domain, descriptor entries, minute); a hit is over the limit when the count after it
    exceeds the budget (base_limiter.go). `down` simulates an outage."""

    def __init__(self, objects: list[dict[str, Any]], seconds_to_reset: int = 42):
        super().__init__(objects)
        self.counters: dict[tuple, int] = {}
        self.down = False
        self.seconds_to_reset = seconds_to_reset
        """Where in its minute window every counter stands."""
        self.env: dict[str, str] = {}

    def _deployment(self, name: str, namespace: str, port: Optional[int]) -> Optional[dict[str, Any]]:
        service = self._one("Service", name, namespace)
        if service is None:
            return None
        target = next((p.get("targetPort", p["port"]) for p in service["spec"]["ports"] if p["port"] == port), None)
        for deployment in self._all("Deployment"):
            labels = deployment["spec"]["template"]["metadata"].get("labels", {})
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            ports = [p["containerPort"] for p in container.get("ports", [])]
            if _ns(deployment) == namespace and _selects(service["spec"]["selector"], labels) and target in ports:
                return deployment
        return None

    def limits(self, name: str, namespace: str, port: Optional[int]) -> Optional[dict[str, list]]:
        """Domain -> descriptors of the service the Service `name` reaches on `port`; None when
        no rate-limit pod answers there (or the service is down)."""
        if self.down:
            return None
        deployment = self._deployment(name, namespace, port)
        if deployment is None:
            return None
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        self.env = env
        directory = "/".join([env["RUNTIME_ROOT"], env["RUNTIME_SUBDIRECTORY"], env.get("RUNTIME_APPDIRECTORY", "config")])
        files = _volume_files(self._one, deployment, container)
        try:
            documents = [load_ratelimit_config(c) for path, c in files.items() if path.rsplit("/", 1)[0] == directory]
        except GoYamlError:
            return None  # the service refuses its configuration and never becomes ready
        return dict(documents) if documents else None

    def should_rate_limit(
        self, config: dict[str, Limit], domain: str, descriptors: list[tuple[list[tuple[str, str]], int]]
    ) -> tuple[bool, dict[str, str]]:
        """Whether the hits go over a budget, and the response headers the service adds: with
        LIMIT_RESPONSE_HEADERS_ENABLED, the limit, remaining and seconds to reset of the status
        with the least remaining (service/ratelimit.go), under the names its env gives. Each
        descriptor carries its own hits (its `hits_addend`; 0 only checks), and every window of
        a test counts as one (a fresh limiter is a fresh window)."""
        over = False
        statuses = []
        for entries, hits in descriptors:
            (key, value), = entries  # the stack sends one entry per descriptor
            limit = limit_for(config, key, value)
            if limit is None:
                continue
            counter = (domain, key, value, limit.unit)
            self.counters[counter] = self.counters.get(counter, 0) + hits
            over |= self.counters[counter] > limit.requests_per_unit
            statuses.append((max(limit.requests_per_unit - self.counters[counter], 0), limit.requests_per_unit))
        return over, self._headers(statuses)

    def _headers(self, statuses: list[tuple[int, int]]) -> dict[str, str]:
        env = self.env
        if env.get("LIMIT_RESPONSE_HEADERS_ENABLED") != "true" or not statuses:
            return {}
        remaining, limit = min(statuses)
        return {
            env.get("LIMIT_LIMIT_HEADER", "RateLimit-Limit").lower(): str(limit),
            env.get("LIMIT_REMAINING_HEADER", "RateLimit-Remaining").lower(): str(remaining),
            env.get("LIMIT_RESET_HEADER", "RateLimit-Reset").lower(): str(self.seconds_to_reset),
        }
