"""LeaderWorkerSetController: the LWS controller and its CRD from the pinned chart, for clusters
without their own (OpenShift has the Red Hat build of the LeaderWorkerSet Operator).

Facts from kubernetes-sigs/lws v0.10.0 that decide the shape: the chart
(oci://registry.k8s.io/lws/charts/lws, versioned like the release) brings the CRD, the
controller (registry.k8s.io/lws/lws, non-root UID 65532, read-only root) and validating and
mutating webhooks with `failurePolicy: Fail`. The controller rotates its own webhook
certificate, so no cert-manager and no Helm hook is involved. Ports: webhook 9443 (the API
server calls it), metrics 8443, probes 8081 (kubelet, not subject to NetworkPolicy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import LeaderWorkerSetController as ControllerConfig
from llm_maas.models import Versions

from ..kube import add_on_namespace, admit_ingress, pinned_chart

WEBHOOK_PORT = 9443


@dataclass
class LeaderWorkerSetControllerArgs:
    controller: ControllerConfig
    versions: Versions
    network_policies: bool = True


class LeaderWorkerSetController(pulumi.ComponentResource):
    chart: k8s.helm.v4.Chart
    """LeaderWorkerSets wait for this: it brings their CRD and the webhooks that admit them."""

    def __init__(self, name: str, args: LeaderWorkerSetControllerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:LeaderWorkerSetController", name, None, opts)
        ns = args.controller.namespace
        namespace = add_on_namespace(self, f"{name}-namespace", ns, "leader-worker-set")
        self.chart = pinned_chart(
            self,
            f"{name}-lws",
            "lws",
            args.versions.leader_worker_set_chart_version,
            args.versions.leader_worker_set_charts,
            ns,
            {},
            [namespace],
        )
        if args.network_policies:
            # The API server reaches the webhooks from outside any pod network, so the webhook
            # port is open to every source; nothing else in the namespace accepts connections.
            admit_ingress(
                self, f"{name}-webhook-only", "lws-webhook-only", namespace.metadata.apply(lambda m: m.name), {},
                [([], WEBHOOK_PORT)],
            )
        self.register_outputs({})
