"""ConsumerAccess: API keys, per-consumer model access, usage labels and shared budgets.

What agentgateway v1.4.1 does, which decides this design (crates/agentgateway/src/http/apikey.rs,
authorization.rs, remoteratelimit.rs, proxy/httpproxy.rs; controller traffic_plugin.go):
- `apiKeyAuthentication` reads every Secret its `secretSelector` matches in the policy's own
  namespace; an entry `{"keyHash": "sha256:<hex>", "metadata": {...}}` stores no usable key, and
  its metadata (any JSON) is visible to CEL as `apiKey.<field>`. Strict mode answers 401 to a
  missing or unknown key; the key header is stripped before the request goes upstream.
- On a Gateway, PreRouting policies run API key, then authorization, then transformation, so the
  access rule reads the model from the body itself (the routing header is not set yet).
- An authorization expression that fails to evaluate counts as false; a failed `Require` denies
  with 403. `Allow` match expressions become separate (OR'ed) rules, hence `Require` here.
- `rateLimit.global` sends each descriptor whose entries evaluate; token descriptors are checked
  before the upstream call with the known input tokens (0 without a tokenizer) and charged the
  real total afterwards, so the request that crosses a budget completes and the next gets 429.

Keys come from pulumi-random and stay Pulumi secrets; the cluster only ever sees their SHA-256.
Every object here is constant or per consumer, except the rate-limit configuration document: adding
a consumer edits that one document and adds its own key and Secret.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from llm_maas.models import Consumer, RateLimit, Team, Versions
from llm_maas.models.spend import budgets_enforced

from ..gateway.inference_gateway import InferenceGateway
from ..gateway.model_list import KEY_MODELS_FIELD, MODEL_LIST_PATH
from ..kube import AGENTGATEWAY_POLICY, HTTP_ROUTE, MODEL_ROUTE_SELECTOR, REFERENCE_GRANT, child, custom_resource, labels, meta
from ..observability import metrics
from .rate_limit import RateLimitService, RateLimitServiceArgs
from .spend import TEAM_EXPRESSION, TEAM_FIELD, spend_descriptor, team_budgets

KEY_PREFIX = "sk-maas-"
KEY_RANDOM_CHARACTERS = 48
# Marks the Secrets this gateway's apiKeyAuthentication reads.
KEY_SECRET_LABEL = "maas.llm-d.ai/api-keys-for"
CONSUMER_FIELD = "consumer"
MODELS_FIELD = KEY_MODELS_FIELD  # what ModelList filters the list by
TIER_FIELD = "tier"  # what PoolScheduling names the caller's objective by

MODEL_LIST_REQUEST = f'request.method == "GET" && request.path == "{MODEL_LIST_PATH}"'
# A consumer whose key lists models may call only those; the list is open to every key (and
# filtered per key by ModelList). Anything unreadable (no body, no `model`) fails, hence denies.
ACCESS_EXPRESSION = (
    f"!has(apiKey.{MODELS_FIELD}) || ({MODEL_LIST_REQUEST}) || "
    f"string(json(request.body).model) in apiKey.{MODELS_FIELD}"
)
CONSUMER_EXPRESSION = f"apiKey.{CONSUMER_FIELD}"
METRICS_LABEL = metrics.CONSUMER

# One descriptor per budget unit, keyed on the consumer, so request and token counters differ:
# (agentgateway's unit, descriptor key, the Consumer field holding the per-minute budget).
BUDGETS = (("Requests", "consumer_requests", "requests_per_minute"), ("Tokens", "consumer_tokens", "tokens_per_minute"))


def key_metadata(consumer: Consumer) -> dict:
    """What the gateway learns about a caller from its key."""
    metadata: dict = {CONSUMER_FIELD: consumer.name}
    if consumer.models is not None:
        metadata[MODELS_FIELD] = list(consumer.models)
    if consumer.tier is not None:
        metadata[TIER_FIELD] = consumer.tier
    if consumer.team is not None:
        metadata[TEAM_FIELD] = consumer.team
    return metadata


def key_entry(key_hash: str, consumer: Consumer) -> str:
    return json.dumps({"keyHash": f"sha256:{key_hash}", "metadata": key_metadata(consumer)}, sort_keys=True)


class _QuotedStrings(yaml.SafeDumper):
    """Every string double-quoted. envoyproxy/ratelimit reads the file with Go's yaml.v2 (YAML
    1.1), where a plain `null` (a valid consumer name) becomes an empty value, which keys the
    descriptor by its key alone and so applies the budget to every consumer without one, and a
    plain `1e3` or `2024-01-01` is a float or a timestamp, which makes the service refuse the whole
    file (go-yaml v2 resolve.go; ratelimit src/config/config_impl.go validateYamlKeys). Numbers
    stay plain: requests_per_unit is a uint32."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')


_QuotedStrings.add_representer(str, _QuotedStrings.represent_str)


def rate_limit_config(domain: str, consumers: Sequence[Consumer], teams: Sequence[Team] = ()) -> str:
    """envoyproxy/ratelimit configuration: a per-minute budget for each consumer that has one, and
    a daily spend budget for each team that has one. A consumer or team without an entry gets no
    limit (the service answers OK for unknown descriptors)."""
    descriptors = []
    for consumer in consumers:
        for _, key, field_name in BUDGETS:
            budget = getattr(consumer, field_name)
            if budget is not None:
                descriptors.append(
                    {"key": key, "value": consumer.name, "rate_limit": {"unit": "minute", "requests_per_unit": budget}}
                )
    descriptors += team_budgets(teams)
    return yaml.dump({"domain": domain, "descriptors": descriptors}, Dumper=_QuotedStrings, sort_keys=False)


@dataclass
class ConsumerAccessArgs:
    consumers: Sequence[Consumer]
    gateway: InferenceGateway
    namespace: str
    """The model namespace (plain, for comparisons), where the model routes and their budgets live."""
    model_namespace: pulumi.Input[str]
    """The same namespace as an output of its creation, so objects there wait for it."""
    rate_limit: RateLimit = field(default_factory=RateLimit)
    teams: Sequence[Team] = ()
    """Teams whose consumers share a daily spend budget (components/spend.py)."""
    versions: Versions = field(default_factory=Versions)
    """Pins of the rate-limit service and Redis images."""
    platform: str = "kubernetes"
    network_policies: bool = True


class ConsumerAccess(pulumi.ComponentResource):
    api_keys: pulumi.Output[dict[str, str]]
    """Consumer -> API key, a Pulumi secret."""
    rate_limit_config: pulumi.Output[str]
    """The budgets as envoyproxy/ratelimit configuration (what an external service must load)."""

    def __init__(self, name: str, args: ConsumerAccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:ConsumerAccess", name, None, opts)
        keys, secrets = self._keys(name, args)
        self._access(name, args, secrets)
        budgets = rate_limit_config(args.rate_limit.domain, args.consumers, args.teams)
        self._budgets(name, args, budgets)
        self.api_keys = pulumi.Output.secret(pulumi.Output.all(**keys))
        self.rate_limit_config = pulumi.Output.from_input(budgets)
        self.register_outputs({"api_keys": self.api_keys, "rate_limit_config": self.rate_limit_config})

    def _keys(self, name: str, args: ConsumerAccessArgs) -> tuple[dict[str, pulumi.Output[str]], list[pulumi.Resource]]:
        """Each consumer's key (a secret output) and the Secret holding only its hash."""
        gw = args.gateway.parent_ref
        keys: dict[str, pulumi.Output[str]] = {}
        secrets: list[pulumi.Resource] = []
        for consumer in args.consumers:
            password = random.RandomPassword(
                f"{name}-{consumer.name}-key",
                length=KEY_RANDOM_CHARACTERS,
                special=False,
                # A new keyVersion replaces this consumer's password, and nothing else.
                keepers={"keyVersion": str(consumer.key_version)},
                opts=child(self),
            )
            key = pulumi.Output.secret(pulumi.Output.concat(KEY_PREFIX, password.result))
            keys[consumer.name] = key
            entry = key.apply(lambda k, c=consumer: key_entry(hashlib.sha256(k.encode()).hexdigest(), c))
            secrets.append(
                k8s.core.v1.Secret(
                    f"{name}-{consumer.name}-key",
                    metadata=meta(
                        f"{gw.name}-consumer-{consumer.name}",
                        gw.namespace,
                        labels("api-key", consumer.name, {KEY_SECRET_LABEL: gw.name}),
                    ),
                    type="Opaque",
                    string_data={consumer.name: entry},
                    opts=child(self),
                )
            )
        return keys, secrets

    def _access(self, name: str, args: ConsumerAccessArgs, secrets: list[pulumi.Resource]) -> None:
        """On the Gateway: keys and the access rule (PreRouting), and the `consumer` metrics label."""
        gateway = args.gateway
        gw = gateway.parent_ref
        policy_labels = labels("access", gw.name)
        custom_resource(
            self,
            f"{name}-access",
            AGENTGATEWAY_POLICY,
            meta(f"{gw.name}-access", gw.namespace, policy_labels),
            {
                "targetRefs": [gateway.target],
                "traffic": {
                    "phase": "PreRouting",
                    "apiKeyAuthentication": {
                        "mode": "Strict",
                        "secretSelector": {"matchLabels": {KEY_SECRET_LABEL: gw.name}},
                    },
                    "authorization": {"action": "Require", "policy": {"matchExpressions": [ACCESS_EXPRESSION]}},
                },
            },
            # Strict authentication before any key exists would refuse everyone.
            [*gateway.crds, *secrets],
        )
        custom_resource(
            self,
            f"{name}-usage-metrics",
            AGENTGATEWAY_POLICY,
            meta(f"{gw.name}-consumer-metrics", gw.namespace, policy_labels),
            {
                "targetRefs": [gateway.target],
                "frontend": {
                    "metrics": {"attributes": {"add": [
                        {"name": METRICS_LABEL, "expression": CONSUMER_EXPRESSION},
                        # "unknown" for a consumer without a team (telemetry/log.rs keeps empty values).
                        {"name": metrics.TEAM, "expression": TEAM_EXPRESSION},
                    ]}}
                },
            },
            gateway.crds,
        )

    def _budgets(self, name: str, args: ConsumerAccessArgs, budgets: str) -> None:
        """The budgets, charged on model calls only: the policy sits beside the model routes and
        selects them by label, so `GET /v1/models` and the catch-all 404 are never counted nor
        refused (a Gateway-level limit is checked on every route, before a directResponse:
        agentgateway v1.4.1 http/remoteratelimit.rs, proxy/httpproxy.rs). A new model's routes
        carry the labels, so adding one edits no budget object."""
        backend = self._budget_service(name, args, budgets)
        if backend is None:
            return
        gw = args.gateway.parent_ref
        crds = args.gateway.crds
        self._grant_budget_service(name, backend, args.namespace, crds)
        custom_resource(
            self,
            f"{name}-budgets",
            AGENTGATEWAY_POLICY,
            meta(f"{gw.name}-budgets", args.model_namespace, labels("access", gw.name)),
            {
                "targetSelectors": [
                    {"group": HTTP_ROUTE.group, "kind": HTTP_ROUTE.kind, "matchLabels": dict(MODEL_ROUTE_SELECTOR)}
                ],
                "traffic": {
                    "rateLimit": {
                        "global": {
                            "domain": args.rate_limit.domain,
                            "backendRef": backend,
                            "failureMode": args.rate_limit.failure_mode,
                            "descriptors": [
                                *({"entries": [{"name": key, "expression": CONSUMER_EXPRESSION}], "unit": unit}
                                  for unit, key, _ in BUDGETS),
                                spend_descriptor(),
                            ],
                        }
                    }
                },
            },
            crds,
        )

    def _budget_service(self, name: str, args: ConsumerAccessArgs, budgets: str) -> Optional[dict]:
        """The `backendRef` of the service keeping budgets: run here, or the configured one; none
        while no consumer has a budget."""
        if not budgets_enforced(args.consumers, args.teams):
            return None
        if args.rate_limit.service is not None:
            return args.rate_limit.service.model_dump()
        return RateLimitService(
            f"{name}-rate-limit",
            RateLimitServiceArgs(
                gateway=args.gateway.parent_ref,
                config=budgets,
                image=args.versions.rate_limit_image,
                redis_image=args.versions.redis_image,
                replicas=args.rate_limit.replicas,
                platform=args.platform,
                network_policies=args.network_policies,
            ),
            opts=child(self),
        ).backend_ref

    def _grant_budget_service(
        self, name: str, backend: dict, policy_namespace: str, crds: Sequence[pulumi.Resource]
    ) -> None:
        """A policy may name a Service in another namespace only where a ReferenceGrant there
        allows it (Gateway API; agentgateway's backendRef doc)."""
        if backend["namespace"] == policy_namespace:
            return
        custom_resource(
            self,
            f"{name}-budget-service-grant",
            REFERENCE_GRANT,
            meta(f"{policy_namespace}-budgets", backend["namespace"], labels("access", backend["name"])),
            {
                "from": [
                    {
                        "group": AGENTGATEWAY_POLICY.group,
                        "kind": AGENTGATEWAY_POLICY.kind,
                        "namespace": policy_namespace,
                    }
                ],
                "to": [{"group": "", "kind": "Service", "name": backend["name"]}],
            },
            crds,
        )
