"""Keda: the KEDA operator, metrics API server and admission webhooks from the pinned chart, for
clusters without their own (the dev stack on kind).

Facts from kedacore/charts at v2.20.2 that decide the values: the chart renders its CRDs as
templates (`crds.install`), runs every pod non-root with a read-only root filesystem, and ships
NetworkPolicies (flavor `cilium` unless told `kubernetes`) that still let the operator reach
any pod, which is how it queries Prometheus. The operator makes its own webhook certificates,
so no Helm hook is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import Autoscaling, Versions

from ..kube import add_on_namespace, pinned_chart


@dataclass
class KedaArgs:
    autoscaling: Autoscaling
    versions: Versions


class Keda(pulumi.ComponentResource):
    chart: k8s.helm.v4.Chart
    """ScaledObjects wait for this: it brings the keda.sh CRDs and the webhook that admits them."""

    def __init__(self, name: str, args: KedaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:Keda", name, None, opts)
        ns = args.autoscaling.namespace
        namespace = add_on_namespace(self, f"{name}-namespace", ns, "autoscaling")
        self.chart = pinned_chart(
            self,
            f"{name}-keda",
            "keda",
            args.versions.keda,
            args.versions.keda_charts,
            ns,
            {"crds": {"install": True}, "networkPolicy": {"enabled": True, "flavor": "kubernetes"}},
            [namespace],
        )
        self.register_outputs({})
