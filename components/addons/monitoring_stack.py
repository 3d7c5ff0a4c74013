"""MonitoringStack: prometheus-operator, Prometheus and Grafana from the pinned kube-prometheus-stack
chart, for clusters without their own (the dev stack on kind).

Facts from the chart at 88.3.0 (prometheus-community/helm-charts) that decide the values:
- Without `*SelectorNilUsesHelmValues: false`, Prometheus selects only PodMonitors labelled
  `release: <release>` (templates/prometheus/prometheus.yaml); false selects every one.
- Its Service is `<fullname>-prometheus:9090`; `fullnameOverride` fixes the name, so KEDA's default
  address (models.scaling.INSTALLED_STACK_NAME) is known before the chart renders.
- The CRDs come from the `crds` subchart's crds/ folder at prometheus-operator v0.93.0.
- The operator's admission webhook gets its certificate from Helm hook Jobs, which only Helm
  runs; Pulumi renders the chart itself, so the webhook and its TLS are off (they only validate
  PrometheusRules and Alertmanager configs, none of which this stack creates).
- Grafana's sidecar loads ConfigMaps labelled grafana_dashboard: "1" from every namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from llm_maas.models import Monitoring, Versions
from llm_maas.models.scaling import INSTALLED_STACK_NAME

from ..kube import add_on_namespace, child, labels, meta, namespace_peer, pinned_chart

PROMETHEUS_PORT = 9090
RELOADER_PORT = 8080
GRAFANA_ADMIN_SECRET = f"{INSTALLED_STACK_NAME}-grafana-admin"
DASHBOARD_LABEL = "grafana_dashboard"


@dataclass
class MonitoringStackArgs:
    monitoring: Monitoring
    versions: Versions
    keda_namespace: str
    """Where KEDA runs; its operator is the one client of Prometheus besides Grafana."""


class MonitoringStack(pulumi.ComponentResource):
    chart: k8s.helm.v4.Chart
    """Everything that uses the monitoring.coreos.com CRDs waits for this."""

    def __init__(self, name: str, args: MonitoringStackArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:MonitoringStack", name, None, opts)
        ns = args.monitoring.namespace
        namespace = add_on_namespace(self, f"{name}-namespace", ns, "monitoring")
        password = random.RandomPassword(f"{name}-grafana-password", length=32, special=False, opts=child(self))
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=meta(GRAFANA_ADMIN_SECRET, ns, labels("credentials", GRAFANA_ADMIN_SECRET)),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": password.result},
            opts=child(self, depends_on=[namespace]),
        )
        self.chart = pinned_chart(
            self,
            f"{name}-kube-prometheus-stack",
            "kube-prometheus-stack",
            args.versions.kube_prometheus_stack,
            args.versions.prometheus_charts,
            ns,
            self._values(args),
            [namespace, admin],
        )
        self.register_outputs({})

    @staticmethod
    def _values(args: MonitoringStackArgs) -> dict:
        every = {f"{kind}SelectorNilUsesHelmValues": False for kind in ("podMonitor", "serviceMonitor", "rule", "probe")}
        only_clients = {
            "enabled": True,
            "flavor": "kubernetes",
            "ingress": [
                {
                    "from": [
                        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "grafana"}}},
                        namespace_peer(args.keda_namespace),
                    ],
                    "ports": [{"protocol": "TCP", "port": PROMETHEUS_PORT}],
                },
                # Prometheus scrapes itself and its config reloader (the chart's self ServiceMonitor).
                {
                    "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
                    "ports": [{"protocol": "TCP", "port": port} for port in (PROMETHEUS_PORT, RELOADER_PORT)],
                },
            ],
            # Scrapes go to every namespace and the API server.
            "egress": [{}],
        }
        return {
            "fullnameOverride": INSTALLED_STACK_NAME,
            "crds": {"enabled": True},
            "defaultRules": {"create": False},
            "alertmanager": {"enabled": False},
            # kind runs no node exporter target worth a DaemonSet, and its control plane hides
            # these components' metrics ports; they would only show as failed targets.
            "nodeExporter": {"enabled": False},
            **{component: {"enabled": False} for component in ("kubeEtcd", "kubeScheduler", "kubeControllerManager", "kubeProxy")},
            "prometheusOperator": {"admissionWebhooks": {"enabled": False}, "tls": {"enabled": False}},
            "prometheus": {
                "networkPolicy": only_clients,
                "prometheusSpec": {
                    **every,
                    "scrapeInterval": args.monitoring.scrape_interval,
                    "retention": "7d",
                },
            },
            "grafana": {
                "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
                "sidecar": {
                    "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1", "searchNamespace": "ALL"}
                },
            },
        }
