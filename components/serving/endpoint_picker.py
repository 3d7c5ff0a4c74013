"""A pool's endpoint picker (EPP), the llm-d router v0.10.0: its account and Role, its config,
Deployment and Service, laid out as the router's own chart lays them out
(config/charts/routerlib: _deployment.yaml, _rbac.yaml, _leader-election-rbac.yaml,
_service.yaml) from plain objects, so every object and every diff shows in `pulumi preview`.

The objects are children of the pool's component (ModelPool), named `<component>-epp...`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import Epp

from ..kube import (
    INFERENCE_GROUP,
    LLMD_GROUP,
    account_with_role,
    child,
    downward_env,
    hardened_container_security,
    labels,
    meta,
    nonroot_pod_security,
    scanner_exceptions,
    scratch_volume,
    selector_of,
)

EXT_PROC_PORT = 9002
HEALTH_PORT = 9003
METRICS_PORT = 9090
METRICS_PORT_NAME = "metrics"
# The pod label naming the pool an EPP picks for.
EPP_FOR_LABEL = "maas.llm-d.ai/epp-for"
CONFIG_DIR = "/config"
CONFIG_FILE = "config.yaml"
# The picker watches its pool's pods and the InferencePool through the API server.
PICKER_SCANNER_EXCEPTIONS = {"CKV_K8S_38": "the endpoint picker watches pods and its InferencePool through the API server"}


class EndpointPicker(NamedTuple):
    """A pool's picker: its name, labels and selector, derived from the pool name alone."""

    pool: str

    @property
    def name(self) -> str:
        return f"{self.pool}-epp"

    @property
    def labels(self) -> dict[str, str]:
        return labels("endpoint-picker", self.name, {EPP_FOR_LABEL: self.pool})

    @property
    def selector(self) -> dict[str, str]:
        return selector_of(self.labels)


@dataclass
class EndpointPickerArgs:
    namespace: pulumi.Input[str]
    config: str
    """The EndpointPickerConfig (picker_config)."""
    image: str
    epp: Epp = field(default_factory=Epp)
    platform: str = "kubernetes"
    scraped: bool = False
    """A scraper is admitted to the metrics port by NetworkPolicy (so /metrics needs no token)."""
    crds: Sequence[pulumi.Resource] = field(default_factory=list)


def endpoint_picker(
    parent: pulumi.Resource, name: str, picker: EndpointPicker, args: EndpointPickerArgs
) -> k8s.core.v1.Service:
    """The picker's objects under `parent`; returns its Service, which the InferencePool names."""
    account = account_with_role(
        parent, name, picker.name, args.namespace, picker.labels, picker_rules(leader_election=args.epp.replicas > 1)
    )
    config_map = k8s.core.v1.ConfigMap(
        name, metadata=meta(picker.name, args.namespace, picker.labels), data={CONFIG_FILE: args.config}, opts=child(parent)
    )
    # The picker asks the API server once, at start, whether the objective CRDs exist, and never
    # watches objectives it did not find then (pkg/epp/server/controller_config.go at v0.10.0): it
    # starts only after the CRD installs.
    k8s.apps.v1.Deployment(
        name,
        metadata=meta(picker.name, args.namespace, picker.labels, scanner_exceptions(PICKER_SCANNER_EXCEPTIONS)),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=args.epp.replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=picker.selector),
            # Upstream's choice: only one picker generation schedules at a time; the pool's
            # failureMode covers the restart.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            template=picker_pod(picker, args),
        ),
        opts=child(parent, depends_on=[config_map, account, *args.crds]),
    )
    return k8s.core.v1.Service(
        f"{name}-service",
        metadata=meta(picker.name, args.namespace, picker.labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=picker.selector,
            ports=[
                k8s.core.v1.ServicePortArgs(
                    name="grpc-ext-proc", port=EXT_PROC_PORT, target_port=EXT_PROC_PORT, app_protocol="http2"
                ),
                k8s.core.v1.ServicePortArgs(name="http-metrics", port=METRICS_PORT, target_port=METRICS_PORT),
            ],
        ),
        opts=child(parent),
    )


def picker_rules(leader_election: bool) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    read = ["get", "list", "watch"]
    rules = [
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=read),
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[INFERENCE_GROUP], resources=["inferencepools"], verbs=read),
        # The router picks llm-d.ai over the older x-k8s.io group when both are served, and this
        # stack installs llm-d.ai (pkg/epp/server/controller_config.go at v0.10.0).
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[LLMD_GROUP], resources=["inferenceobjectives", "inferencemodelrewrites"], verbs=read
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


def picker_flags(picker: EndpointPicker, args: EndpointPickerArgs) -> list[str]:
    """The flags the router's own chart passes. Tracing is on by default upstream and would export
    to a collector on localhost:4317 that does not exist. Secure serving stays on: agentgateway
    dials the picker over TLS without verifying it
    (controller/pkg/agentgateway/plugins/inference_plugin.go at v1.4.1)."""
    flags = [
        "--pool-name", picker.pool,
        "--pool-namespace", args.namespace,
        "--pool-group", INFERENCE_GROUP,
        "--zap-encoder", "json",
        "--config-file", f"{CONFIG_DIR}/{CONFIG_FILE}",
        "--grpc-health-port", str(HEALTH_PORT),
        "--tracing=false",
    ]  # fmt: skip
    if args.epp.replicas > 1:
        flags.append("--ha-enable-leader-election")
    if args.scraped:
        # /metrics (plain HTTP on 9090) otherwise wants a token the EPP checks with TokenReviews
        # (MetricsEndpointAuth, pkg/epp/server/options.go at v0.10.0); the NetworkPolicy admits
        # only the scraper to that port instead.
        flags.append("--metrics-endpoint-auth=false")
    return flags


def _health(service: str, period: int, delay: Optional[int] = None) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        grpc=k8s.core.v1.GRPCActionArgs(port=HEALTH_PORT, service=service), period_seconds=period,
        initial_delay_seconds=delay,
    )  # fmt: skip


def picker_pod(picker: EndpointPicker, args: EndpointPickerArgs) -> k8s.core.v1.PodTemplateSpecArgs:
    epp = args.epp
    leader_election = epp.replicas > 1
    tmp_volume, tmp_mount = scratch_volume()
    container = k8s.core.v1.ContainerArgs(
        name="epp",
        image=args.image,
        image_pull_policy="IfNotPresent",
        args=picker_flags(picker, args),
        env=downward_env(("NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name")),
        ports=[
            k8s.core.v1.ContainerPortArgs(name="grpc", container_port=EXT_PROC_PORT),
            k8s.core.v1.ContainerPortArgs(name="grpc-health", container_port=HEALTH_PORT),
            k8s.core.v1.ContainerPortArgs(name=METRICS_PORT_NAME, container_port=METRICS_PORT),
        ],
        # With leader election only the leader is ready, but every replica is alive: the health
        # server answers `liveness` and `readiness` separately for that case.
        liveness_probe=_health("liveness" if leader_election else "inference-extension", 10, 5),
        readiness_probe=_health("readiness" if leader_election else "inference-extension", 2),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": epp.resources.cpu, "memory": epp.resources.memory}, limits={"memory": epp.resources.limit}
        ),
        # The picker writes no files at run time (its self-signed serving certificate stays in
        # memory, internal/tls/tls.go at v0.10.0); /tmp covers library temp files.
        security_context=hardened_container_security(read_only_root=True),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True), tmp_mount],
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(
            labels=picker.labels,
            # The EPP reads its config once at start: roll it when the config changes.
            annotations={"maas.llm-d.ai/config-sha256": hashlib.sha256(args.config.encode()).hexdigest()},
        ),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=picker.name,
            security_context=nonroot_pod_security(args.platform),
            termination_grace_period_seconds=130,
            containers=[container],
            volumes=[
                k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=picker.name)),
                tmp_volume,
            ],
        ),
    )
