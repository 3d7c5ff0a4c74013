"""ModelServer: the pods an InferencePool selects, vLLM on GPUs or the llm-d simulator.

Servers depend on nothing but their namespace (and the HF token Secret): weights start loading
the moment `pulumi up` begins, in parallel with CRDs, charts, the gateway and the pools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import Model, Versions

from ..consumers.spend import usage_details_args
from ..kube import (
    MODEL_SERVER_PORT,
    child,
    downward_env,
    hardened_container_security,
    labels,
    meta,
    nonroot_pod_security,
    one_at_a_time_budget,
    scanner_exceptions,
    scratch_volume,
    surge_rollout,
)
from .disaggregation import ENGINE_PORT_NAME, kv_transfer_args, nixl_env, routing_sidecar, serving_port

HF_TOKEN_KEY = "HF_TOKEN"
# huggingface_hub reads the token from the file HF_TOKEN_PATH names (constants.py), so the token
# is never in the process environment, where /proc/<pid>/environ and crash dumps show it.
HF_TOKEN_DIR = "/var/run/secrets/huggingface"
# vLLM's image runs as root by default; any UID works once HOME and the caches are writable. One
# of 10000 or more never matches a user of the node (checkov CKV_K8S_40).
VLLM_UID = 11000
# vLLM (torch, triton, flashinfer) writes compile caches and temporary files in places no mount
# list covers, so its root filesystem stays writable.
VLLM_SCANNER_EXCEPTIONS = {"CKV_K8S_22": "vLLM writes compile caches and temporary files where no mount list covers"}
# The API port's name; vLLM and the simulator serve /metrics there too.
SERVER_PORT_NAME = "http"
CACHE_DIR = "/cache"
# The EPP reads this label to pick the engine's metric names; the simulator speaks vLLM's.
ENGINE_LABEL = "inference.networking.k8s.io/engine-type"


@dataclass
class ModelServerArgs:
    model: Model
    """The workload: a model, or a disaggregated model's `prefill_server`."""
    namespace: pulumi.Input[str]
    hf_token_secret: Optional[pulumi.Input[str]] = None
    """Name of a Secret in `namespace` whose HF_TOKEN key vLLM uses for gated models."""
    platform: str = "kubernetes"
    sidecar_image: str = Versions.model_fields["disagg_sidecar_image"].default
    """The P/D sidecar a disaggregated model's decode pods run in front of their server."""


class ModelServer(pulumi.ComponentResource):
    deployment_name: pulumi.Output[str]
    gpus: pulumi.Output[int]

    def __init__(self, name: str, args: ModelServerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:ModelServer", name, None, opts)
        model = args.model
        object_name = model.server_name
        object_labels = server_labels(model)
        pod_labels = {**object_labels, **model.pod_selector}
        cache = persistent_cache(self, name, model, args.namespace, object_labels)
        if model.server == "vllm":
            container, volumes = vllm_container(model, args.hf_token_secret, cache)
            pod_security = vllm_pod_security(args.platform)
        else:
            container, volumes = self._simulator(model)
            pod_security = nonroot_pod_security(args.platform)
        sidecar = routing_sidecar(model, args.sidecar_image, SERVER_PORT_NAME)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(object_name, args.namespace, object_labels, {**load_await(model), **scanner_notes(model)}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # An autoscaled Deployment leaves the count to KEDA's HPA: Pulumi applies its objects
                # server-side, and a field missing from the applied manifest is one Pulumi neither
                # owns nor resets, so a later `pulumi up` keeps whatever count the HPA set.
                replicas=None if model.autoscaling else model.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=model.deployment_selector),
                strategy=self._strategy(model),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                    spec=server_pod_spec(model, pod_security, container, volumes, [sidecar] if sidecar else []),
                ),
            ),
            opts=child(self, depends_on=[cache] if cache else None),
        )
        if model.max_replicas > 1:
            # Voluntary disruptions (node drains) take at most one replica at a time, whatever the
            # autoscaler's count. A model that never has more than one replica gets no budget: it
            # would block every drain of its node forever.
            one_at_a_time_budget(
                self, f"{name}-disruption-budget", meta(object_name, args.namespace, object_labels), model.pod_selector
            )
        self.deployment_name = deployment.metadata.apply(lambda m: m.name)
        self.gpus = pulumi.Output.from_input(model.replicas * model.gpus_per_replica)
        self.register_outputs({"deployment_name": self.deployment_name, "gpus": self.gpus})

    @staticmethod
    def _strategy(model: Model) -> k8s.apps.v1.DeploymentStrategyArgs:
        """Replace pods without ever dropping below the desired count (maxUnavailable 0), except
        on GPUs where no spare one is known to exist: a lone replica's surge pod would wait for
        the GPUs the old pod holds, so it is recreated in place (a short outage instead of a
        rollout that never finishes). An autoscaled GPU model may sit at any count, even the
        cluster's last free GPU, so it replaces one pod at a time without a surge pod."""
        if model.gpus_per_replica and model.autoscaling:
            return k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=1, max_surge=0),
            )
        if model.gpus_per_replica and model.replicas <= 1:
            return k8s.apps.v1.DeploymentStrategyArgs(type="Recreate")
        return surge_rollout()

    def _simulator(self, model: Model) -> tuple[k8s.core.v1.ContainerArgs, list[k8s.core.v1.VolumeArgs]]:
        # The simulator asks the Hugging Face API whether `--model` exists and, if it does, will
        # only start beside a tokenizer sidecar (pkg/tokenizer/tokenizer.go at v0.8.2): so the
        # model it simulates gets a name no Hub repo has, and clients' name is the served one.
        port = serving_port(model)
        cmd_args = [
            "--model", f"{model.pool_name}-simulator",
            "--served-model-name", model.name,
            "--port", str(port),
        ]  # fmt: skip
        if model.adapters:
            # The simulator takes each adapter as a JSON object, not vLLM's name=path.
            cmd_args += ["--max-loras", str(len(model.adapters))]
            cmd_args += ["--lora-modules", *(json.dumps({"name": a.name}) for a in model.adapters)]
        cmd_args += model.extra_args
        http = k8s.core.v1.HTTPGetActionArgs(path="/health", port=port)
        tmp_volume, tmp_mount = scratch_volume()
        container = k8s.core.v1.ContainerArgs(
            name="simulator",
            image=model.image,
            args=cmd_args,
            # With these set, responses carry x-inference-pod / x-inference-namespace headers:
            # proof of which pool answered. (The kind guide's `NAMESPACE` is not read.)
            env=downward_env(("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")),
            ports=[k8s.core.v1.ContainerPortArgs(name=server_port_name(model), container_port=port)],
            resources=server_resources(model),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=http, period_seconds=5),
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=http, period_seconds=10),
            # The simulator writes files only when asked to download a dataset (pkg/dataset at
            # v0.8.2), which this stack never does; /tmp covers library temp files.
            security_context=hardened_container_security(read_only_root=True),
            volume_mounts=[tmp_mount],
        )
        return container, [tmp_volume]


def server_port_name(model: Model) -> str:
    """The pool's port is `http` wherever it is served: by the server itself, or by the routing
    sidecar in front of a decode pod's server."""
    return ENGINE_PORT_NAME if serving_port(model) != MODEL_SERVER_PORT else SERVER_PORT_NAME


def server_labels(model: Model) -> dict[str, str]:
    """Labels of a model's server objects and of every pod they run (pool selector aside)."""
    return labels("model-server", model.pool_name, {ENGINE_LABEL: "vllm"})


def load_await(model: Model) -> dict[str, str]:
    """Pulumi waits for a rollout as long as the pods' startup probe allows a model load."""
    return {"pulumi.com/timeoutSeconds": str(model.startup_minutes * 60 + 600)}


def scanner_notes(model: Model) -> dict[str, str]:
    return scanner_exceptions(VLLM_SCANNER_EXCEPTIONS) if model.server == "vllm" else {}


def vllm_pod_security(platform: str) -> k8s.core.v1.PodSecurityContextArgs:
    return nonroot_pod_security(platform, uid=VLLM_UID, owns_volumes=True)


def server_pod_spec(
    model: Model,
    security: k8s.core.v1.PodSecurityContextArgs,
    container: k8s.core.v1.ContainerArgs,
    volumes: list[k8s.core.v1.VolumeArgs],
    sidecars: Sequence[k8s.core.v1.ContainerArgs] = (),
) -> k8s.core.v1.PodSpecArgs:
    return k8s.core.v1.PodSpecArgs(
        # A Service named like an env prefix (e.g. `vllm`) would inject VLLM_PORT and crash vLLM.
        enable_service_links=False,
        # Model servers never call the Kubernetes API.
        automount_service_account_token=False,
        security_context=security,
        init_containers=list(sidecars) or None,
        containers=[container],
        volumes=volumes,
        node_selector=model.node_selector or None,
        tolerations=gpu_tolerations(model),
        termination_grace_period_seconds=60,
    )


def persistent_cache(
    parent: pulumi.Resource, name: str, model: Model, namespace: pulumi.Input[str], object_labels: dict[str, str]
) -> Optional[k8s.core.v1.PersistentVolumeClaim]:
    if model.server != "vllm" or not model.cache_storage_class:
        return None
    return k8s.core.v1.PersistentVolumeClaim(
        f"{name}-cache",
        metadata=meta(
            f"{model.server_name}-cache",
            namespace,
            object_labels,
            # With WaitForFirstConsumer storage the claim binds only once the pod exists.
            {"pulumi.com/skipAwait": "true"},
        ),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=[model.cache_access_mode],
            storage_class_name=model.cache_storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": model.cache_size}),
        ),
        # Downloaded weights outlive the stack: a re-created model starts from the cache.
        opts=child(parent, retain_on_delete=True),
    )


def gpu_tolerations(model: Model) -> Optional[list[k8s.core.v1.TolerationArgs]]:
    tolerations = [
        k8s.core.v1.TolerationArgs(
            key=t.key, operator=t.operator, value=t.value, effect=t.effect, toleration_seconds=t.toleration_seconds
        )
        for t in model.tolerations
    ]
    if model.gpus_per_pod:
        tolerations.insert(0, k8s.core.v1.TolerationArgs(key=model.gpu_resource, operator="Exists", effect="NoSchedule"))
    return tolerations or None


def server_resources(model: Model) -> k8s.core.v1.ResourceRequirementsArgs:
    res = model.effective_resources
    gpus = {model.gpu_resource: str(model.gpus_per_pod)} if model.gpus_per_pod else {}
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": res.cpu, "memory": res.memory, **gpus},
        limits={"memory": res.limit, **gpus},
    )


def hf_token_file(
    secret: Optional[pulumi.Input[str]],
) -> tuple[list[k8s.core.v1.EnvVarArgs], list[k8s.core.v1.VolumeMountArgs], list[k8s.core.v1.VolumeArgs]]:
    """The HF token as a read-only file huggingface_hub reads (HF_TOKEN_PATH), when there is one."""
    if secret is None:
        return [], [], []
    return (
        [k8s.core.v1.EnvVarArgs(name="HF_TOKEN_PATH", value=f"{HF_TOKEN_DIR}/{HF_TOKEN_KEY}")],
        [k8s.core.v1.VolumeMountArgs(name="hf-token", mount_path=HF_TOKEN_DIR, read_only=True)],
        [
            k8s.core.v1.VolumeArgs(
                name="hf-token",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=secret,
                    items=[k8s.core.v1.KeyToPathArgs(key=HF_TOKEN_KEY, path=HF_TOKEN_KEY)],
                    default_mode=0o440,
                ),
            )
        ],
    )


def vllm_probes(model: Model, port: int) -> dict[str, k8s.core.v1.ProbeArgs]:
    """Loading weights can take most of an hour; until the startup probe passes, the liveness
    probe stays silent and nothing restarts the pod."""

    def http(path: str) -> k8s.core.v1.HTTPGetActionArgs:
        return k8s.core.v1.HTTPGetActionArgs(path=path, port=port)

    return dict(
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=http("/health"), period_seconds=10, failure_threshold=model.startup_minutes * 6
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(http_get=http("/health"), period_seconds=10, timeout_seconds=5, failure_threshold=3),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=http("/v1/models"), period_seconds=5, timeout_seconds=5, failure_threshold=3
        ),
    )


def vllm_container(
    model: Model,
    hf_token_secret: Optional[pulumi.Input[str]],
    cache: Optional[k8s.core.v1.PersistentVolumeClaim],
    launch: Sequence[str] = (),
    serves_http: bool = True,
) -> tuple[k8s.core.v1.ContainerArgs, list[k8s.core.v1.VolumeArgs]]:
    """`vllm serve` for one pod. `launch` adds the multi-node flags of a group member; a member
    that does not serve HTTP (a headless worker) gets no port and no probes."""
    port = serving_port(model)
    cmd_args = [
        model.source or model.name,
        "--served-model-name", model.name,
        "--port", str(port),
        "--tensor-parallel-size", str(model.tensor_parallel),
        *launch,
        *kv_transfer_args(model),
        *usage_details_args(model),
    ]  # fmt: skip
    if model.max_model_len:
        cmd_args += ["--max-model-len", str(model.max_model_len)]
    if model.adapters:
        cmd_args += ["--enable-lora", "--max-loras", str(len(model.adapters))]
        if model.max_lora_rank:
            cmd_args += ["--max-lora-rank", str(model.max_lora_rank)]
        # JSON, never `name=path`: vLLM splits that form on every `=` and reads one with a `,` as
        # JSON, so some legal sources would not parse (LoRAParserAction, entrypoints/openai/cli_args.py).
        cmd_args += ["--lora-modules", *(json.dumps({"name": a.name, "path": a.source}) for a in model.adapters)]
    cmd_args += model.extra_args
    env = [
        k8s.core.v1.EnvVarArgs(name="HF_HOME", value=f"{CACHE_DIR}/huggingface"),
        # Triton, torch.compile and other dot-caches land in the writable cache volume, so the
        # image also runs under OpenShift's arbitrary non-root UID.
        k8s.core.v1.EnvVarArgs(name="HOME", value=CACHE_DIR),
        # Python's getpass (torch's cache paths) wants a user name, which a UID without a passwd
        # entry lacks.
        k8s.core.v1.EnvVarArgs(name="USER", value="vllm"),
        *nixl_env(model),
    ]
    token_env, token_mounts, token_volumes = hf_token_file(hf_token_secret)
    env += token_env
    probes = vllm_probes(model, port) if serves_http else {}
    container = k8s.core.v1.ContainerArgs(
        name="vllm",
        image=model.image,
        command=["vllm", "serve"],
        args=cmd_args,
        env=env,
        ports=[k8s.core.v1.ContainerPortArgs(name=server_port_name(model), container_port=port)]
        if serves_http
        else None,
        resources=server_resources(model),
        security_context=hardened_container_security(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
            k8s.core.v1.VolumeMountArgs(name="cache", mount_path=CACHE_DIR),
            *token_mounts,
        ],
        **probes,
    )
    volumes = [
        k8s.core.v1.VolumeArgs(
            name="shm", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit=model.shm_size)
        ),
        k8s.core.v1.VolumeArgs(
            name="cache",
            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=cache.metadata.apply(lambda m: m.name)
            )
            if cache
            else None,
            empty_dir=None if cache else k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=model.cache_size),
        ),
        *token_volumes,
    ]
    return container, volumes
