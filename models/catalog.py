"""The catalog: what one model is (`maas:models[]`), and what the stack derives from it: its pool,
its server workloads (decode and prefill), replica bounds and GPUs."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, PrivateAttr, field_validator, model_validator

from .disaggregation import Prefill
from .kube_rules import ExtendedResourceName, Labels, QualifiedName, Size, StorageClassName, toleration_problem
from .names import DECODE, PREFILL, ROLE_LABEL, derive_pool_name, pool_selector
from .scaling import ModelAutoscaling
from .spend import Price
from .types import ClientName, Duration, Image, PoolName, Resources, StrictModel, duration_seconds


class Toleration(StrictModel):
    key: Optional[QualifiedName] = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: Optional[str] = None
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None
    toleration_seconds: Optional[int] = Field(None, ge=0)

    @model_validator(mode="after")
    def _as_the_api_server_reads_it(self) -> "Toleration":
        problem = toleration_problem(self.key, self.operator, self.value, self.effect, self.toleration_seconds)
        if problem:
            raise ValueError(problem)
        return self


class Adapter(StrictModel):
    name: ClientName = Field(description="LoRA adapter name clients send as `model`.")
    source: Optional[str] = Field(
        None,
        min_length=1,
        description="Where vLLM loads the adapter from (Hugging Face repo id or a path); required for vLLM.",
    )


ServerKind = Literal["vllm", "simulator"]
DEFAULT_REQUEST_TIMEOUT = "300s"
MAX_REQUEST_TIMEOUT_SECONDS = 24 * 3600
MAX_NODES = 64
# One replica spanning more GPUs than this is a typo, not a model: the largest open models
# (DeepSeek-R1, Llama-3.1-405B, Qwen3-235B) need 16-32.
MAX_GPUS_PER_REPLICA = 128

DEFAULT_RESOURCES: dict[str, Resources] = {
    "vllm": Resources(cpu="4", memory="16Gi"),
    "simulator": Resources(cpu="10m", memory="64Mi", memory_limit="256Mi"),
}


class Model(StrictModel):
    name: ClientName = Field(description="Served model name clients send as `model`, e.g. Qwen/Qwen3-0.6B.")
    source: Optional[str] = Field(
        None, min_length=1, description="Weights vLLM loads (Hugging Face repo id or path); defaults to `name`."
    )
    adapters: list[Adapter] = Field(default_factory=list, description="LoRA adapters that route to this model.")
    server: ServerKind = Field("vllm", description="vllm (GPU) or simulator (llm-d-inference-sim, no GPU).")
    replicas: int = Field(1, ge=0, le=64, description="Model server replicas.")
    tensor_parallel: int = Field(1, ge=1, le=8, description="GPUs per pod, one node's worth (at most 8).")
    nodes: int = Field(
        1,
        ge=1,
        le=MAX_NODES,
        description="Pods per replica, one per node, pipeline-parallel across them (a LeaderWorkerSet when > 1).",
    )
    image: Optional[Image] = Field(None, description="Image override; defaults to the pinned vLLM or simulator image.")
    extra_args: list[str] = Field(default_factory=list, description="Extra server arguments, appended last.")
    resources: Optional[Resources] = Field(None, description="CPU/memory; defaults depend on the server kind.")
    node_selector: Labels = Field(default_factory=dict, description="Node selector for server pods.")
    tolerations: list[Toleration] = Field(default_factory=list, description="Tolerations added to server pods.")
    max_model_len: Optional[int] = Field(None, ge=1, description="vLLM --max-model-len.")
    max_lora_rank: Optional[int] = Field(None, ge=1, le=512, description="vLLM --max-lora-rank.")
    gpu_resource: ExtendedResourceName = Field("nvidia.com/gpu", description="Extended resource that counts GPUs.")
    cache_size: Size = Field("20Gi", description="Size of the weight cache (HF_HOME).")
    cache_storage_class: Optional[StorageClassName] = Field(
        None,
        description="Keep the weight cache on a PersistentVolumeClaim of this storage class (retained "
        "on destroy) instead of a pod-local emptyDir that is re-downloaded on every restart.",
    )
    cache_access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = Field(
        "ReadWriteOnce", description="Access mode of the persistent cache; ReadWriteMany for replicas > 1."
    )
    shm_size: Size = Field("2Gi", description="Size of the in-memory /dev/shm volume (NCCL needs it for tensor parallel).")
    startup_minutes: int = Field(
        60,
        ge=1,
        le=360,
        description="How long a model may take to load before the pod is restarted and `pulumi up` gives up.",
    )
    request_timeout: Duration = Field(
        DEFAULT_REQUEST_TIMEOUT,
        description="How long one request may take, streamed answer included, before the gateway ends it "
        "(1s to 24h); a reasoning model's long answers need more than the default.",
    )
    pool: Optional[PoolName] = Field(None, description="InferencePool name; derived from `name` when unset.")
    price: Optional[Price] = Field(
        None,
        description="{inputPerMillion, outputPerMillion, cachedInputPerMillion} in maas:currency: what its calls "
        "(adapters included) cost; unset: free.",
    )
    autoscaling: Optional[ModelAutoscaling] = Field(
        None,
        description="Scale the servers on the pool's queue depth: {minReplicas, maxReplicas, queueDepth} "
        "(needs maas:monitoring.enabled and a metrics source, see maas:autoscaling).",
    )
    prefill: Optional[Prefill] = Field(
        None,
        description="Compute long prompts on prefill pods of their own: {replicas, tensorParallel, resources, "
        "extraArgs, autoscaling, nonCachedTokens}; the model's replicas, tensorParallel and autoscaling then "
        "describe its decode pods.",
    )
    # Which workload of a disaggregated model this is: set only on `prefill_server`'s copy.
    _role: Optional[str] = PrivateAttr(None)

    @field_validator("adapters", mode="before")
    @classmethod
    def _plain_adapter_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @property
    def pool_name(self) -> str:
        return self.pool or derive_pool_name(self.name)

    @property
    def server_name(self) -> str:
        """Name of the model-server Deployment and of what guards it."""
        return f"{self.pool_name}-{PREFILL if self._role == PREFILL else 'server'}"

    @property
    def role(self) -> Optional[str]:
        """`prefill` or `decode` in a disaggregated model; None in one that is not."""
        return self._role or (DECODE if self.prefill is not None else None)

    @property
    def pod_selector(self) -> dict[str, str]:
        """What selects exactly this workload's pods: the pool label, and the role when there is one."""
        return {**self.selector_labels, **({ROLE_LABEL: self.role} if self.role else {})}

    @property
    def deployment_selector(self) -> dict[str, str]:
        """The (immutable) selector of the workload's Deployment. Decode pods keep the pool label
        alone, so a model that turns disaggregated updates its servers in place; a prefill
        Deployment names its role (ReplicaSets never adopt another Deployment's pods: their
        selectors carry the pod-template hash)."""
        return self.pod_selector if self._role == PREFILL else self.selector_labels

    @property
    def prefill_server(self) -> "Model":
        """The prefill workload, as a model of its own (same weights, adapters and pool)."""
        assert self.prefill is not None
        prefill = self.prefill
        workload = self.model_copy(
            update={
                "replicas": prefill.replicas,
                "tensor_parallel": prefill.tensor_parallel,
                "resources": prefill.resources or self.resources,
                "extra_args": prefill.extra_args,
                "autoscaling": prefill.autoscaling,
                "nodes": 1,
                "prefill": None,
            }
        )
        workload._role = PREFILL
        return workload

    @property
    def workloads(self) -> list["Model"]:
        """The model's own server pods, and its prefill pods when it has them."""
        return [self, self.prefill_server] if self.prefill is not None else [self]

    @property
    def served_names(self) -> list[str]:
        return [self.name] + [adapter.name for adapter in self.adapters]

    @property
    def request_timeout_seconds(self) -> float:
        return duration_seconds(self.request_timeout)

    @property
    def selector_labels(self) -> dict[str, str]:
        return pool_selector(self.pool_name)

    @property
    def min_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def holds_requests_at_zero(self) -> bool:
        """The pool may have no pod at all, so its endpoint picker must queue requests meanwhile."""
        return self.min_replicas == 0

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1

    @property
    def gpus_per_pod(self) -> int:
        return self.tensor_parallel if self.server == "vllm" else 0

    @property
    def gpus_per_replica(self) -> int:
        """A replica is a group of `nodes` pods, each with tensorParallel GPUs."""
        return self.gpus_per_pod * self.nodes

    @property
    def effective_resources(self) -> Resources:
        return self.resources or DEFAULT_RESOURCES[self.server]
