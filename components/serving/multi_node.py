"""MultiNodeServer: a model too big for one node, served by groups of `nodes` pods, one
LeaderWorkerSet per model.

How vLLM starts across nodes: every pod of a group runs `vllm serve` with tensor parallel within
its node (`--tensor-parallel-size` = its GPUs) and pipeline parallel across the group
(`--pipeline-parallel-size` = nodes), using vLLM's own multi-node launch: `--nnodes`,
`--node-rank`, `--master-addr` and the `mp` executor (vllm-project/vllm PR #23691;
docs/serving/parallelism_scaling.md gives TP = GPUs per node, PP = nodes). Workers add
`--headless` and serve no HTTP. vLLM's LWS recipe (docs/deployment/frameworks/lws.md) starts a
Ray cluster instead, but the pinned image no longer ships Ray (vllm-project/vllm PR #36170,
v0.19.0).

Facts from kubernetes-sigs/lws v0.10.0 (pkg/utils/pod): every container gets LWS_LEADER_ADDRESS
and LWS_WORKER_INDEX, which the args reference as $(VAR); every pod is labelled
`leaderworkerset.sigs.k8s.io/name`. The set reports `Available` (it has no `Ready`), which is
what Pulumi waits for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi

from llm_maas.models import Model

from ..kube import LEADER_WORKER_SET, admit_ingress, custom_resource, meta, one_at_a_time_budget
from .model_server import (
    load_await,
    persistent_cache,
    server_labels,
    server_pod_spec,
    vllm_container,
    vllm_pod_security,
)

GROUP_LABEL = "leaderworkerset.sigs.k8s.io/name"
# vLLM's default rendezvous port on the leader (ParallelConfig.master_port).
MASTER_PORT = 29501


@dataclass
class MultiNodeServerArgs:
    model: Model
    namespace: pulumi.Input[str]
    hf_token_secret: Optional[pulumi.Input[str]] = None
    platform: str = "kubernetes"
    network_policies: bool = True
    controller: Sequence[pulumi.Resource] = field(default_factory=list)
    """The installed LWS controller, when the stack installs it: its CRD and webhooks come first."""


class MultiNodeServer(pulumi.ComponentResource):
    leader_worker_set_name: pulumi.Output[str]
    gpus: pulumi.Output[int]

    def __init__(self, name: str, args: MultiNodeServerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:MultiNodeServer", name, None, opts)
        model = args.model
        object_name = model.server_name
        object_labels = server_labels(model)
        cache = persistent_cache(self, name, model, args.namespace, object_labels)
        security = vllm_pod_security(args.platform)
        leader, leader_volumes = vllm_container(model, args.hf_token_secret, cache, self._launch(model, "0"))
        worker, worker_volumes = vllm_container(
            model, args.hf_token_secret, cache, [*self._launch(model, "$(LWS_WORKER_INDEX)"), "--headless"],
            serves_http=False,
        )
        spec = {
            "startupPolicy": "LeaderCreated",
            # One group at a time, without a spare group's GPUs: each update recreates a group,
            # which reloads the model (README: Models bigger than one node).
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "leaderWorkerTemplate": {
                "size": model.nodes,
                # A pipeline missing a stage serves nothing: any pod's restart restarts its group.
                "restartPolicy": "RecreateGroupOnPodRestart",
                # Only leaders carry the pool's labels, so the EPP never scores a worker.
                "leaderTemplate": {
                    "metadata": {"labels": {**object_labels, **model.selector_labels}},
                    "spec": server_pod_spec(model, security, leader, leader_volumes),
                },
                "workerTemplate": {
                    "metadata": {"labels": object_labels},
                    "spec": server_pod_spec(model, security, worker, worker_volumes),
                },
            },
        }
        if not model.autoscaling:
            spec["replicas"] = model.replicas  # else KEDA's HPA owns the count, as for a Deployment
        group = custom_resource(
            self,
            f"{name}-leader-worker-set",
            LEADER_WORKER_SET,
            meta(object_name, args.namespace, object_labels, {**load_await(model), "pulumi.com/waitFor": "condition=Available"}),
            spec,
            depends_on=[*args.controller, *([cache] if cache else [])],
        )
        group_pods = {GROUP_LABEL: object_name}
        if args.network_policies:
            # NCCL and vLLM's workers pick their ports at run time: a group's pods may reach each
            # other on any port, and nothing else reaches a worker.
            admit_ingress(
                self, f"{name}-group", f"{object_name}-group", args.namespace, group_pods,
                [([{"podSelector": {"matchLabels": group_pods}}], None)],
            )
        if model.max_replicas > 1:
            one_at_a_time_budget(
                self, f"{name}-disruption-budget", meta(object_name, args.namespace, object_labels), group_pods
            )
        self.leader_worker_set_name = group.id.apply(lambda _: object_name)
        self.gpus = pulumi.Output.from_input(model.replicas * model.gpus_per_replica)
        self.register_outputs({"leader_worker_set_name": self.leader_worker_set_name, "gpus": self.gpus})

    @staticmethod
    def _launch(model: Model, rank: str) -> list[str]:
        return [
            "--pipeline-parallel-size", str(model.nodes),
            "--nnodes", str(model.nodes),
            "--node-rank", rank,
            "--master-addr", "$(LWS_LEADER_ADDRESS)",
            "--master-port", str(MASTER_PORT),
            "--distributed-executor-backend", "mp",
        ]  # fmt: skip
