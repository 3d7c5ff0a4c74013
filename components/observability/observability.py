"""Observability: what Prometheus scrapes (PodMonitors) and what Grafana shows (dashboards), with
the monitoring stack itself when the stack installs it.

Three PodMonitors, however large the catalog: model servers and endpoint pickers in the model
namespace, the data plane in the gateway namespace (OpenShift's user-workload Prometheus ignores
PodMonitor namespace selectors, so each one lives beside its pods). Each copies the pod label
that names its pool or gateway into a target label, so every series says which pool it is from
(and, for a disaggregated model's servers, which role).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import Monitoring, Versions
from llm_maas.models.names import DATA_PLANE, POOL_LABEL, ROLE_LABEL, gateway_object

from ..addons.monitoring_stack import DASHBOARD_LABEL, MonitoringStack, MonitoringStackArgs
from ..kube import (
    DATA_PLANE_LABEL,
    DATA_PLANE_METRICS_PORT_NAME,
    PART_OF,
    POD_MONITOR,
    GatewayRef,
    child,
    custom_resource,
    known,
    labels,
    meta,
    namespace_peer,
)
from ..serving.endpoint_picker import EPP_FOR_LABEL, METRICS_PORT_NAME
from ..serving.model_server import SERVER_PORT_NAME
from . import metrics
from .dashboards import consumers_dashboard, models_dashboard, spend_dashboard


def scraper_peer(monitoring: Monitoring) -> Optional[dict]:
    """The NetworkPolicy peer of the Prometheus pods, or None when nothing is scraped."""
    if not monitoring.enabled:
        return None
    return namespace_peer(monitoring.scraper.namespace, monitoring.scraper.pod_labels)


def pod_label_source(label: str) -> str:
    """The name Prometheus's Kubernetes discovery gives a pod label."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^A-Za-z0-9_]", "_", label)


@dataclass
class ObservabilityArgs:
    monitoring: Monitoring
    versions: Versions
    namespace: str
    """The model namespace (plain, for queries)."""
    model_namespace: pulumi.Input[str]
    """The same namespace as an output of its creation, so objects wait for it."""
    gateway: GatewayRef
    gateway_namespace: pulumi.Input[str]
    keda_namespace: str
    """Where KEDA runs (the installed Prometheus admits it)."""
    consumers: bool = False
    """Whether gateway metrics carry a consumer label (the consumers dashboard needs it)."""


class Observability(pulumi.ComponentResource):
    dashboards: pulumi.Output[list[str]]
    """Names of the dashboard ConfigMaps."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:Observability", name, None, opts)
        monitoring = args.monitoring
        crds: list[pulumi.Resource] = []
        if monitoring.install:
            stack = MonitoringStack(
                f"{name}-stack",
                MonitoringStackArgs(monitoring=monitoring, versions=args.versions, keda_namespace=args.keda_namespace),
                opts=child(self),
            )
            crds.append(stack.chart)

        # Server series also say which side of a disaggregated model they come from (`role`,
        # absent for a model that is not).
        in_models = [
            ("model-servers", {"app.kubernetes.io/component": "model-server"}, SERVER_PORT_NAME,
             {POOL_LABEL: metrics.POOL, ROLE_LABEL: metrics.ROLE}),
            ("endpoint-pickers", {"app.kubernetes.io/component": "endpoint-picker"}, METRICS_PORT_NAME,
             {EPP_FOR_LABEL: metrics.POOL}),
        ]  # fmt: skip
        for monitor, selected, port, target_labels in in_models:
            self._pod_monitor(
                name, monitor, args.model_namespace, {**selected, "app.kubernetes.io/part-of": PART_OF}, port,
                target_labels, monitoring, crds,
            )  # fmt: skip
        gw = args.gateway
        self._pod_monitor(
            name, gateway_object(gw.name, DATA_PLANE), args.gateway_namespace, {DATA_PLANE_LABEL: gw.name},
            DATA_PLANE_METRICS_PORT_NAME, {DATA_PLANE_LABEL: metrics.GATEWAY}, monitoring, crds,
        )  # fmt: skip

        boards: dict[str, str] = {}
        if monitoring.dashboards:
            boards["maas-models"] = models_dashboard(args.namespace)
            boards["maas-spend"] = spend_dashboard(gw.namespace, gw.name)
            if args.consumers:
                boards["maas-consumers"] = consumers_dashboard(gw.namespace, gw.name)
        for board, document in boards.items():
            k8s.core.v1.ConfigMap(
                f"{name}-{board}-dashboard",
                metadata=meta(
                    f"{board}-dashboard",
                    args.model_namespace,
                    labels("dashboard", f"{board}-dashboard", {DASHBOARD_LABEL: "1"}),
                ),
                data={f"{board}.json": document},
                opts=child(self),
            )
        self.dashboards = known([f"{board}-dashboard" for board in boards])
        self.register_outputs({"dashboards": self.dashboards})

    def _pod_monitor(
        self,
        name: str,
        monitor: str,
        namespace: pulumi.Input[str],
        selected: dict[str, str],
        port: str,
        target_labels: dict[str, str],
        monitoring: Monitoring,
        crds: list[pulumi.Resource],
    ) -> None:
        custom_resource(
            self,
            f"{name}-{monitor}",
            POD_MONITOR,
            meta(monitor, namespace, labels("monitoring", monitor, monitoring.pod_monitor_labels)),
            {
                "selector": {"matchLabels": selected},
                "podMetricsEndpoints": [
                    {
                        "port": port,
                        "path": "/metrics",
                        "interval": monitoring.scrape_interval,
                        "relabelings": [
                            {"sourceLabels": [pod_label_source(pod_label)], "targetLabel": target, "action": "replace"}
                            for pod_label, target in target_labels.items()
                        ],
                    }
                ],
            },
            crds,
        )
