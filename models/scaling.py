"""What the stack scrapes and shows (`maas:monitoring`), how models scale (`maas:autoscaling` and
each model's `autoscaling`), and how many GPUs the catalog may ever ask for (`maas:gpuBudget`)."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, PositiveInt

from .kube_rules import Labels
from .types import DNS1123Label, StrictModel

# Where OpenShift's user-workload Prometheus runs, and the querier that serves its metrics per
# namespace; the Custom Metrics Autoscaler docs require this address, bearer auth and the
# `namespace` parameter (openshift-docs nodes-cma-autoscaling-custom-prometheus-config).
OPENSHIFT_SCRAPER_NAMESPACE = "openshift-user-workload-monitoring"
OPENSHIFT_THANOS_QUERIER = "https://thanos-querier.openshift-monitoring.svc.cluster.local:9092"
# kube-prometheus-stack's fullname when the stack installs it; its Prometheus Service is
# `<fullname>-prometheus` on 9090 (templates/prometheus/service.yaml at chart 88.3.0).
INSTALLED_STACK_NAME = "maas-monitoring"


class Scraper(StrictModel):
    """The Prometheus pods the NetworkPolicies let in to the metrics ports."""

    namespace: Optional[DNS1123Label] = Field(
        None,
        description="Namespace of the Prometheus that scrapes the pods; defaults to monitoring.namespace, "
        f"or {OPENSHIFT_SCRAPER_NAMESPACE} on OpenShift.",
    )
    pod_labels: Labels = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "prometheus"},
        min_length=1,
        description="Labels of the Prometheus pods (prometheus-operator sets app.kubernetes.io/name: prometheus).",
    )


class Monitoring(StrictModel):
    enabled: bool = Field(
        False,
        description="PodMonitors (monitoring.coreos.com/v1) for model servers, endpoint pickers and the "
        "gateway data plane, and NetworkPolicies that let the scraper reach exactly those ports.",
    )
    install: bool = Field(
        False,
        description="Install prometheus-operator, Prometheus and Grafana (kube-prometheus-stack) in `namespace`; "
        "false: use the cluster's own (OpenShift: user-workload monitoring).",
    )
    dashboards: bool = Field(
        True, description='Grafana dashboards as ConfigMaps labelled grafana_dashboard: "1" (with enabled).'
    )
    namespace: DNS1123Label = Field("monitoring", description="Namespace of the installed monitoring stack.")
    scraper: Scraper = Field(default_factory=Scraper, description="The Prometheus pods: {namespace, podLabels}.")
    pod_monitor_labels: Labels = Field(
        default_factory=dict,
        description="Labels your Prometheus's podMonitorSelector requires (e.g. release: prometheus).",
    )
    scrape_interval: str = Field("15s", pattern=r"^[1-9][0-9]*s$", description="Scrape interval, e.g. 15s.")


class Autoscaling(StrictModel):
    install: bool = Field(
        False,
        description="Install KEDA from its pinned chart in `namespace`; false: the cluster already runs KEDA "
        "(OpenShift: the Custom Metrics Autoscaler operator).",
    )
    namespace: DNS1123Label = Field("keda", description="Namespace of the installed KEDA.")
    prometheus_url: Optional[str] = Field(
        None,
        pattern=r"^https?://\S+$",
        description="Prometheus HTTP API KEDA queries. Default: the installed monitoring stack's Prometheus, "
        f"or {OPENSHIFT_THANOS_QUERIER} on OpenShift.",
    )
    bearer_token: Optional[bool] = Field(
        None,
        description="Authenticate to prometheusUrl with a ServiceAccount token that may read the model "
        "namespace's metrics (OpenShift's querier requires it). Default: true on OpenShift.",
    )


class ModelAutoscaling(StrictModel):
    min_replicas: int = Field(
        1, ge=0, le=64, description="Fewest replicas; 0 lets an idle model release its GPUs (the EPP holds requests)."
    )
    max_replicas: int = Field(ge=1, le=64, description="Most replicas the autoscaler may run.")
    queue_depth: PositiveInt = Field(
        4, description="Waiting requests per replica the autoscaler aims for; more adds replicas."
    )


def resolve_scaling(monitoring: Monitoring, autoscaling: Autoscaling, platform: str) -> None:
    """Fills the defaults that depend on the platform and on what the stack installs."""
    openshift = platform == "openshift"
    if monitoring.scraper.namespace is None:
        monitoring.scraper.namespace = OPENSHIFT_SCRAPER_NAMESPACE if openshift else monitoring.namespace
    if autoscaling.prometheus_url is None:
        if openshift:
            autoscaling.prometheus_url = OPENSHIFT_THANOS_QUERIER
        elif monitoring.install:
            autoscaling.prometheus_url = (
                f"http://{INSTALLED_STACK_NAME}-prometheus.{monitoring.namespace}.svc.cluster.local:9090"
            )
    if autoscaling.bearer_token is None:
        autoscaling.bearer_token = openshift
