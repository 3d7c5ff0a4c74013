"""ModelPool: one model's InferencePool, its endpoint picker (EPP, endpoint_picker) and the routes
to it, with what the picker learns of each request (PoolScheduling) and who may reach the pool's
pods (NetworkPolicies).

Routes attach to the gateway in its own namespace without the hand patch the OpenShift guide needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi

from llm_maas.models import Epp, Model, Tier, Versions, priority_bands
from llm_maas.models.routes import route_chunks, route_name

from ..gateway.inference_gateway import ROUTING_HEADER, GatewayParentRef
from ..kube import (
    AGENTGATEWAY_BACKEND,
    HTTP_ROUTE,
    INFERENCE_POOL,
    MODEL_SERVER_PORT,
    admit_ingress,
    child,
    custom_resource,
    data_plane_peer,
    known,
    meta,
    pool_labels,
    target_ref,
)
from .endpoint_picker import EXT_PROC_PORT, METRICS_PORT, EndpointPicker, EndpointPickerArgs, endpoint_picker
from .picker_config import endpoint_picker_config
from .scheduling import PoolScheduling, PoolSchedulingArgs

# agentgateway parses these as OpenAI chat completions (token counts, budgets, metrics); every
# other path (legacy completions, embeddings, ...) is sent to the pod as-is but still "Detect"ed,
# which keeps rate limits and telemetry on it (RouteType::Detect, crates/llm/src/lib.rs at
# v1.4.1). Without `routes`, agentgateway would parse every path as a chat completion.
LLM_ROUTES = {"/v1/chat/completions": "Completions", "*": "Detect"}


def llm_backend_spec(pool: str) -> dict:
    """The AgentgatewayBackend that puts a pool on agentgateway's LLM path. The custom provider
    targets the InferencePool, so the pool's EPP still picks the pod (agentgateway EP-288); the
    model name comes from the request, so one backend serves the base model and its adapters."""
    return {
        "ai": {
            "provider": {
                "custom": {
                    "backendRef": target_ref(INFERENCE_POOL, pool),
                    "formats": [{"type": "Completions"}],
                }
            }
        },
        "policies": {"ai": {"routes": LLM_ROUTES}},
    }


@dataclass
class ModelPoolArgs:
    model: Model
    namespace: pulumi.Input[str]
    parent_ref: GatewayParentRef
    epp: Epp = field(default_factory=Epp)
    epp_image: str = Versions.model_fields["epp_image"].default
    tiers: Sequence[Tier] = field(default_factory=list)
    """The stack's consumer tiers: a flow-control band and an InferenceObjective each."""
    crds: Sequence[pulumi.Resource] = field(default_factory=list)
    """CRD installs the InferencePool and HTTPRoutes must wait for."""
    platform: str = "kubernetes"
    network_policies: bool = True
    """Admit only the gateway's data plane to servers and EPP, and only this EPP to its servers."""
    scraper: Optional[dict] = None
    """NetworkPolicy peer of the Prometheus that scrapes the servers and the EPP (None: not scraped)."""


class ModelPool(pulumi.ComponentResource):
    pool_name: pulumi.Output[str]
    served_names: pulumi.Output[list[str]]
    epp_service: pulumi.Output[str]

    def __init__(self, name: str, args: ModelPoolArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:ModelPool", name, None, opts)
        model = args.model
        picker = EndpointPicker(model.pool_name)
        service = endpoint_picker(
            self, f"{name}-epp", picker, EndpointPickerArgs(
                namespace=args.namespace,
                config=endpoint_picker_config(model, priority_bands(args.tiers)),
                image=args.epp_image,
                epp=args.epp,
                platform=args.platform,
                scraped=args.scraper is not None,
                crds=args.crds,
            ),
        )  # fmt: skip
        backend = self._pool(name, args, picker, service)
        routes = self._routes(name, args, [*args.crds, backend])
        PoolScheduling(
            f"{name}-scheduling",
            PoolSchedulingArgs(
                pool=model.pool_name,
                namespace=args.namespace,
                route_names=list(routes),
                tiers=args.tiers,
                crds=args.crds,
                routes=list(routes.values()),
            ),
            opts=child(self),
        )
        if args.network_policies:
            self._network_policies(name, args, picker)

        self.pool_name = pulumi.Output.from_input(model.pool_name)
        self.served_names = known(model.served_names)
        self.epp_service = service.metadata.apply(lambda m: m.name)
        self.register_outputs(
            {"pool_name": self.pool_name, "served_names": self.served_names, "epp_service": self.epp_service}
        )

    def _pool(
        self, name: str, args: ModelPoolArgs, picker: EndpointPicker, service: pulumi.Resource
    ) -> pulumi.Resource:
        """The InferencePool, which hands every request to the picker's Service, and the
        AgentgatewayBackend that puts it on the gateway's LLM path."""
        pool = args.model.pool_name
        inference_pool = custom_resource(
            self,
            f"{name}-inference-pool",
            INFERENCE_POOL,
            meta(pool, args.namespace, pool_labels(pool)),
            {
                "selector": {"matchLabels": args.model.selector_labels},
                "targetPorts": [{"number": MODEL_SERVER_PORT}],
                "endpointPickerRef": {
                    "name": picker.name,
                    "port": {"number": EXT_PROC_PORT},
                    "failureMode": args.epp.failure_mode,
                },
            },
            [*args.crds, service],
        )
        return custom_resource(
            self,
            f"{name}-backend",
            AGENTGATEWAY_BACKEND,
            meta(pool, args.namespace, pool_labels(pool)),
            llm_backend_spec(pool),
            [*args.crds, inference_pool],
        )

    def _routes(
        self, name: str, args: ModelPoolArgs, depends_on: list[pulumi.Resource]
    ) -> dict[str, pulumi.Resource]:
        """The HTTPRoutes that send the pool's served names to its backend, by name."""
        pool = args.model.pool_name
        routes: dict[str, pulumi.Resource] = {}
        for index, rules in enumerate(route_chunks(args.model.served_names)):
            name_of_route = route_name(pool, index)
            routes[name_of_route] = custom_resource(
                self,
                f"{name}-route" if index == 0 else f"{name}-route-{index + 1}",
                HTTP_ROUTE,
                meta(name_of_route, args.namespace, pool_labels(pool)),
                {
                    "parentRefs": [args.parent_ref.as_spec()],
                    "rules": [
                        {
                            "name": f"models-{rule_index + 1}",
                            "matches": [
                                {
                                    "path": {"type": "PathPrefix", "value": "/v1/"},
                                    "headers": [{"type": "Exact", "name": ROUTING_HEADER, "value": served}],
                                }
                                for served in names
                            ],
                            "backendRefs": [target_ref(AGENTGATEWAY_BACKEND, pool)],
                            "timeouts": {"request": args.model.request_timeout},
                        }
                        for rule_index, names in enumerate(rules)
                    ],
                },
                depends_on,
            )
        return routes

    def _network_policies(self, name: str, args: ModelPoolArgs, picker: EndpointPicker) -> None:
        data_plane = data_plane_peer(args.parent_ref)
        # Model servers: requests from the gateway, metric reads from this pool's EPP and the
        # scraper (vLLM serves /metrics on its API port). The EPP: ext-proc calls from the gateway,
        # and the scraper on its metrics port.
        model = args.model
        scrapers = [args.scraper] if args.scraper is not None else []
        readers = [{"podSelector": {"matchLabels": picker.selector}}, *scrapers]
        server_rules = [([data_plane, *readers], MODEL_SERVER_PORT)]
        if model.prefill is not None:
            # A decode pod calls a prefill pod's server and NIXL side channel, then pulls the KV
            # cache over UCX connections on ports UCX picks at run time (either side may open
            # them): the two roles of one pool reach each other on any port, and the gateway
            # reaches decode pods only.
            prefill = model.prefill_server
            server_rules.append(([{"podSelector": {"matchLabels": prefill.pod_selector}}], None))
            admit_ingress(
                self, f"{name}-prefill-ingress", prefill.server_name, args.namespace, prefill.pod_selector,
                [(readers, MODEL_SERVER_PORT), ([{"podSelector": {"matchLabels": model.pod_selector}}], None)],
            )  # fmt: skip
        epp_rules = [([data_plane], EXT_PROC_PORT)]
        if scrapers:
            epp_rules.append((scrapers, METRICS_PORT))
        admit_ingress(self, f"{name}-server-ingress", model.server_name, args.namespace, model.pod_selector, server_rules)
        admit_ingress(self, f"{name}-epp-ingress", picker.name, args.namespace, picker.selector, epp_rules)
