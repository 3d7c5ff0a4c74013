"""ModelPool: one model's InferencePool, its endpoint picker (EPP) and the routes to it.

The EPP is composed from plain Kubernetes objects rather than the upstream `inferencepool`
chart, so every object (and every diff) shows in `pulumi preview`, and the HTTPRoute attaches
to the gateway in its own namespace without the hand patch the OpenShift guide needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import Epp, Model, Tier, Versions, priority_bands

from .inference_gateway import ROUTING_HEADER, GatewayParentRef
from .picker_config import endpoint_picker_config
from .scheduling import PoolScheduling, PoolSchedulingArgs
from .kube import (
    AGENTGATEWAY_BACKEND,
    account_with_role,
    admit_ingress,
    HTTP_ROUTE,
    INFERENCE_GROUP,
    INFERENCE_POOL,
    LLMD_GROUP,
    MODEL_SERVER_PORT,
    REQUEST_TIMEOUT,
    child,
    custom_resource,
    data_plane_peer,
    downward_env,
    hardened_container_security,
    labels,
    meta,
    nonroot_pod_security,
    scratch_volume,
    selector_of,
    target_ref,
)

EXT_PROC_PORT = 9002
HEALTH_PORT = 9003
METRICS_PORT = 9090
METRICS_PORT_NAME = "metrics"
# The pod label naming the pool an EPP picks for.
EPP_FOR_LABEL = "maas.llm-d.ai/epp-for"
CONFIG_DIR = "/config"
CONFIG_FILE = "config.yaml"

# HTTPRoute limits (Gateway API v1): 64 matches per rule and, by a CRD rule, 128 per route.
MATCHES_PER_RULE = 64
MATCHES_PER_ROUTE = 128

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


def route_chunks(names: Sequence[str]) -> list[list[list[str]]]:
    """Split served names into routes of <=128 matches, each split into rules of <=64."""
    routes = [names[i : i + MATCHES_PER_ROUTE] for i in range(0, len(names), MATCHES_PER_ROUTE)]
    return [[list(r[i : i + MATCHES_PER_RULE]) for i in range(0, len(r), MATCHES_PER_RULE)] for r in routes]


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
        pool = model.pool_name
        epp_name = f"{pool}-epp"
        ns = args.namespace
        epp_labels = labels("endpoint-picker", epp_name, {EPP_FOR_LABEL: pool})
        epp_selector = selector_of(epp_labels)

        account = account_with_role(
            self, f"{name}-epp", epp_name, ns, epp_labels, self._epp_rules(leader_election=args.epp.replicas > 1)
        )
        picker_config = endpoint_picker_config(model, priority_bands(args.tiers))
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-epp",
            metadata=meta(epp_name, ns, epp_labels),
            data={CONFIG_FILE: picker_config},
            opts=child(self),
        )
        # The picker asks the API server once, at start, whether the objective CRDs exist, and
        # never watches objectives it did not find then (pkg/epp/server/controller_config.go at
        # v0.10.0): it starts only after the CRD installs.
        self._epp_deployment(
            name, args, epp_name, epp_labels, epp_selector, picker_config, [config_map, account, *args.crds]
        )
        service = k8s.core.v1.Service(
            f"{name}-epp-service",
            metadata=meta(epp_name, ns, epp_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=epp_selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="grpc-ext-proc", port=EXT_PROC_PORT, target_port=EXT_PROC_PORT, app_protocol="http2"
                    ),
                    k8s.core.v1.ServicePortArgs(name="http-metrics", port=METRICS_PORT, target_port=METRICS_PORT),
                ],
            ),
            opts=child(self),
        )
        pool_labels = labels("inference-pool", pool)
        inference_pool = custom_resource(
            self,
            f"{name}-inference-pool",
            INFERENCE_POOL,
            meta(pool, ns, pool_labels),
            {
                "selector": {"matchLabels": model.selector_labels},
                "targetPorts": [{"number": MODEL_SERVER_PORT}],
                "endpointPickerRef": {
                    "name": epp_name,
                    "port": {"number": EXT_PROC_PORT},
                    "failureMode": args.epp.failure_mode,
                },
            },
            [*args.crds, service],
        )
        backend = custom_resource(
            self,
            f"{name}-backend",
            AGENTGATEWAY_BACKEND,
            meta(pool, ns, pool_labels),
            llm_backend_spec(pool),
            [*args.crds, inference_pool],
        )
        routes = self._routes(name, args, pool_labels, [*args.crds, backend])
        PoolScheduling(
            f"{name}-scheduling",
            PoolSchedulingArgs(
                pool=pool,
                namespace=ns,
                route_names=list(routes),
                tiers=args.tiers,
                crds=args.crds,
                routes=list(routes.values()),
            ),
            opts=child(self),
        )

        if args.network_policies:
            self._network_policies(name, args, epp_name, epp_labels, epp_selector)

        self.pool_name = pulumi.Output.from_input(pool)
        self.served_names = pulumi.Output.from_input(model.served_names)
        self.epp_service = service.metadata.apply(lambda m: m.name)
        self.register_outputs(
            {"pool_name": self.pool_name, "served_names": self.served_names, "epp_service": self.epp_service}
        )

    def _routes(
        self, name: str, args: ModelPoolArgs, pool_labels: dict[str, str], depends_on: list[pulumi.Resource]
    ) -> dict[str, pulumi.Resource]:
        """The HTTPRoutes that send the pool's served names to its backend, by name."""
        pool = args.model.pool_name
        routes: dict[str, pulumi.Resource] = {}
        for index, rules in enumerate(route_chunks(args.model.served_names)):
            route_name = pool if index == 0 else f"{pool}-{index + 1}"
            routes[route_name] = custom_resource(
                self,
                f"{name}-route" if index == 0 else f"{name}-route-{index + 1}",
                HTTP_ROUTE,
                meta(route_name, args.namespace, pool_labels),
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
                            "timeouts": {"request": REQUEST_TIMEOUT},
                        }
                        for rule_index, names in enumerate(rules)
                    ],
                },
                depends_on,
            )
        return routes

    def _network_policies(
        self, name: str, args: ModelPoolArgs, epp_name: str, epp_labels: dict[str, str], epp_selector: dict[str, str]
    ) -> None:
        data_plane = data_plane_peer(args.parent_ref)
        # Model servers: requests from the gateway, metric reads from this pool's EPP and the
        # scraper (vLLM serves /metrics on its API port). The EPP: ext-proc calls from the gateway,
        # and the scraper on its metrics port.
        model = args.model
        scrapers = [args.scraper] if args.scraper is not None else []
        readers = [{"podSelector": {"matchLabels": epp_selector}}, *scrapers]
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
        admit_ingress(self, f"{name}-epp-ingress", epp_name, args.namespace, epp_selector, epp_rules)

    @staticmethod
    def _epp_rules(leader_election: bool) -> list[k8s.rbac.v1.PolicyRuleArgs]:
        read = ["get", "list", "watch"]
        rules = [
            k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=read),
            k8s.rbac.v1.PolicyRuleArgs(api_groups=[INFERENCE_GROUP], resources=["inferencepools"], verbs=read),
            # The router picks llm-d.ai over the older x-k8s.io group when both are served, and this
            # stack installs llm-d.ai (pkg/epp/server/controller_config.go at v0.10.0).
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=[LLMD_GROUP],
                resources=["inferenceobjectives", "inferencemodelrewrites"],
                verbs=read,
            ),
        ]
        if leader_election:
            rules += [
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["coordination.k8s.io"],
                    resources=["leases"],
                    # delete too: the leader releases its lease on shutdown (routerlib
                    # _leader-election-rbac.yaml, LeaderElectionReleaseOnCancel).
                    verbs=["get", "list", "watch", "create", "update", "patch", "delete"],
                ),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["events"], verbs=["create", "patch"]),
            ]
        return rules

    def _epp_deployment(
        self,
        name: str,
        args: ModelPoolArgs,
        epp_name: str,
        epp_labels: dict[str, str],
        epp_selector: dict[str, str],
        picker_config: str,
        depends_on: list[pulumi.Resource],
    ) -> k8s.apps.v1.Deployment:
        pool = args.model.pool_name
        epp = args.epp
        # The flags the router's own chart passes (config/charts/routerlib _deployment.yaml at
        # v0.10.0). Tracing is on by default upstream and would export to a collector on
        # localhost:4317 that does not exist. Secure serving stays on: agentgateway dials the
        # picker over TLS without verifying it (controller/pkg/agentgateway/plugins/inference_plugin.go).
        cmd_args = [
            "--pool-name", pool,
            "--pool-namespace", args.namespace,
            "--pool-group", INFERENCE_GROUP,
            "--zap-encoder", "json",
            "--config-file", f"{CONFIG_DIR}/{CONFIG_FILE}",
            "--grpc-health-port", str(HEALTH_PORT),
            "--tracing=false",
        ]  # fmt: skip
        leader_election = epp.replicas > 1
        if leader_election:
            cmd_args.append("--ha-enable-leader-election")
        if args.scraper is not None:
            # /metrics (plain HTTP on 9090) otherwise wants a token the EPP checks with TokenReviews
            # (MetricsEndpointAuth, pkg/epp/server/options.go at v0.10.0); here the NetworkPolicy
            # admits only the scraper to that port instead.
            cmd_args.append("--metrics-endpoint-auth=false")

        tmp_volume, tmp_mount = scratch_volume()

        def health(service: str, period: int, delay: Optional[int] = None) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(
                grpc=k8s.core.v1.GRPCActionArgs(port=HEALTH_PORT, service=service),
                period_seconds=period,
                initial_delay_seconds=delay,
            )

        # With leader election only the leader is ready, but every replica is alive: the EPP's
        # health server answers `liveness` and `readiness` separately for that case.
        return k8s.apps.v1.Deployment(
            f"{name}-epp",
            metadata=meta(epp_name, args.namespace, epp_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=epp.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=epp_selector),
                # Upstream's choice: only one picker generation schedules at a time; the pool's
                # failureMode covers the restart.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=epp_labels,
                        # The EPP reads its config once at start: roll it when the config changes.
                        annotations={
                            "maas.llm-d.ai/config-sha256": hashlib.sha256(picker_config.encode()).hexdigest()
                        },
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=epp_name,
                        security_context=nonroot_pod_security(args.platform),
                        termination_grace_period_seconds=130,
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="epp",
                                image=args.epp_image,
                                image_pull_policy="IfNotPresent",
                                args=cmd_args,
                                env=downward_env(("NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name")),
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(name="grpc", container_port=EXT_PROC_PORT),
                                    k8s.core.v1.ContainerPortArgs(name="grpc-health", container_port=HEALTH_PORT),
                                    k8s.core.v1.ContainerPortArgs(name=METRICS_PORT_NAME, container_port=METRICS_PORT),
                                ],
                                liveness_probe=health("liveness" if leader_election else "inference-extension", 10, 5),
                                readiness_probe=health("readiness" if leader_election else "inference-extension", 2),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": epp.resources.cpu, "memory": epp.resources.memory},
                                    limits={"memory": epp.resources.limit},
                                ),
                                # The picker writes no files at run time (its self-signed serving
                                # certificate stays in memory, internal/tls/tls.go at v0.10.0);
                                # /tmp covers library temp files.
                                security_context=hardened_container_security(read_only_root=True),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                                    tmp_mount,
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=epp_name)
                            ),
                            tmp_volume,
                        ],
                    ),
                ),
            ),
            opts=child(self, depends_on=depends_on),
        )
