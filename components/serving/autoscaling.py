"""ModelAutoscaling: a KEDA ScaledObject per autoscaled model, scaling its server Deployment on the
pool's queue depth, with KEDA itself when the stack installs it.

The trigger is the requests waiting for the pool, as an AverageValue: the HPA keeps about
`queueDepth` waiting requests per replica. Waiting means queued in a model server
(`vllm:num_requests_waiting`, as vLLM production-stack scales) or held by the pool's endpoint
picker, whose flow control keeps the servers' own queues short under load and holds every
request while the pool has no pod: so a pool at zero wakes on its first held request, as llm-d's
keda-epp guide does. A disaggregated model scales each side on its own servers' queue, its
decode side also on what the picker holds.

KEDA's prometheus scaler (pkg/scalers/prometheus_scaler.go at v2.20.2) treats an empty result
as 0 (`ignoreNullValues` defaults to true), which is right for a pool with no pods yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import PREFILL, Autoscaling, Model, Versions

from ..addons.keda import Keda, KedaArgs
from ..kube import (
    LEADER_WORKER_SET,
    SCALED_OBJECT,
    TRIGGER_AUTHENTICATION,
    Kind,
    account_with_role,
    child,
    custom_resource,
    known,
    labels,
    meta,
)
from ..observability import metrics

METRICS_READER = "maas-metrics-reader"
POLLING_SECONDS = 15
# GPU pods take minutes to start and hold expensive capacity: shrink slowly, one pod a minute,
# after five quiet minutes (also how long a pool that may idle at zero stays up).
SCALE_DOWN_WINDOW_SECONDS = 300


@dataclass
class ModelAutoscalingArgs:
    models: Sequence[Model]
    """The autoscaled workloads: models, and disaggregated models' prefill servers."""
    namespace: str
    """The model namespace (plain, for queries)."""
    model_namespace: pulumi.Input[str]
    autoscaling: Autoscaling
    versions: Versions


class ModelAutoscaling(pulumi.ComponentResource):
    scaled_objects: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ModelAutoscalingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:ModelAutoscaling", name, None, opts)
        settings = args.autoscaling
        crds: list[pulumi.Resource] = []
        if settings.install:
            crds.append(Keda(f"{name}-keda", KedaArgs(autoscaling=settings, versions=args.versions), opts=child(self)).chart)
        authentication = self._bearer_token(name, args, crds) if settings.bearer_token else None
        names = []
        for model in args.models:
            assert model.autoscaling is not None
            scaled = model.autoscaling
            # The picker holds requests for the pool, which decode (or plain) servers take; a
            # prefill side scales on its own queue alone.
            queue = metrics.waiting(args.namespace, model.pool_name, model.role, held=model.role != PREFILL)
            trigger = self._trigger("queue", queue, scaled.queue_depth, args, authentication)
            custom_resource(
                self,
                f"{name}-{model.server_name}" if model.role == PREFILL else f"{name}-{model.pool_name}",
                SCALED_OBJECT,
                meta(model.server_name, args.model_namespace, labels("autoscaling", model.server_name)),
                {
                    "scaleTargetRef": self._target(model),
                    "minReplicaCount": scaled.min_replicas,
                    "maxReplicaCount": scaled.max_replicas,
                    "pollingInterval": POLLING_SECONDS,
                    "cooldownPeriod": SCALE_DOWN_WINDOW_SECONDS,
                    "advanced": {
                        "horizontalPodAutoscalerConfig": {
                            "behavior": {
                                "scaleDown": {
                                    "stabilizationWindowSeconds": SCALE_DOWN_WINDOW_SECONDS,
                                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                                }
                            }
                        }
                    },
                    "triggers": [trigger],
                },
                crds,
            )
            names.append(model.server_name)
        self.scaled_objects = known(names)
        self.register_outputs({"scaled_objects": self.scaled_objects})

    @staticmethod
    def _target(model: Model) -> dict[str, str]:
        """What KEDA's HPA scales: the Deployment, or a multi-node model's LeaderWorkerSet (whose
        scale subresource counts groups)."""
        kind = LEADER_WORKER_SET if model.multi_node else Kind("apps/v1", "Deployment")
        return {"apiVersion": kind.api_version, "kind": kind.kind, "name": model.server_name}

    @staticmethod
    def _trigger(
        trigger: str, query: str, threshold: int, args: ModelAutoscalingArgs, authentication: Optional[str]
    ) -> dict:
        metadata = {"serverAddress": args.autoscaling.prometheus_url, "query": query, "threshold": str(threshold)}
        spec: dict = {"type": "prometheus", "name": trigger, "metricType": "AverageValue", "metadata": metadata}
        if authentication:
            # A namespaced querier (OpenShift's thanos-querier on 9092) answers only for `namespace`.
            metadata.update({"authModes": "bearer", "namespace": args.namespace})
            spec["authenticationRef"] = {"name": authentication}
        return spec

    def _bearer_token(self, name: str, args: ModelAutoscalingArgs, crds: list[pulumi.Resource]) -> str:
        """A ServiceAccount whose token may read this namespace's metrics, and the
        TriggerAuthentication that hands it (and the cluster CA) to the prometheus scaler; the
        rules are those the OpenShift Custom Metrics Autoscaler docs grant for thanos-querier."""
        ns = args.model_namespace
        object_labels = labels("autoscaling", METRICS_READER)
        account = account_with_role(
            self,
            f"{name}-metrics-reader",
            METRICS_READER,
            ns,
            object_labels,
            [
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=["metrics.k8s.io"], resources=["pods"], verbs=["get", "list", "watch"]),
            ],
        )
        token = k8s.core.v1.Secret(
            f"{name}-metrics-reader-token",
            metadata=meta(
                METRICS_READER, ns, object_labels, {"kubernetes.io/service-account.name": METRICS_READER}
            ),
            type="kubernetes.io/service-account-token",
            opts=child(self, depends_on=[account]),
        )
        custom_resource(
            self,
            f"{name}-prometheus-auth",
            TRIGGER_AUTHENTICATION,
            meta(METRICS_READER, ns, object_labels),
            {
                "secretTargetRef": [
                    {"parameter": "bearerToken", "name": METRICS_READER, "key": "token"},
                    {"parameter": "ca", "name": METRICS_READER, "key": "ca.crt"},
                ]
            },
            [*crds, token],
        )
        return METRICS_READER
