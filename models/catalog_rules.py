"""Rules that span the catalog: unique names and pools, what each server kind can run, multi-node
and prefill/decode limits, and how autoscaling fits monitoring and the GPU budget. Each returns
its violations, at the key path the user edits."""

from __future__ import annotations

from typing import Optional, Sequence

from .catalog import MAX_GPUS_PER_REPLICA, MAX_REQUEST_TIMEOUT_SECONDS, Model
from .disaggregation import Prefill
from .errors import Violation, dotted_path
from .names import DNS1035_RULE, POOL_NAME_MAX, is_dns1035_label
from .scaling import Autoscaling, Monitoring
from .server_args import check_extra_args, check_source

Loc = tuple[str | int, ...]


def check_names(models: Sequence[Model]) -> tuple[dict[str, Loc], list[Violation]]:
    """Every model and adapter name once, and every pool once; returns where each name is declared."""
    name_owner: dict[str, Loc] = {}
    pool_owner: dict[str, int] = {}
    violations: list[Violation] = []
    for index, model in enumerate(models):
        at: Loc = ("models", index)
        for loc, name in [(at + ("name",), model.name)] + [(at + ("adapters", i, "name"), a.name) for i, a in enumerate(model.adapters)]:
            if name in name_owner:
                violations.append(
                    Violation(loc, name, f"already served by {dotted_path(name_owner[name])}; every model and adapter "
                              "name must be unique so it routes to exactly one pool")
                )
            else:
                name_owner[name] = loc
        pool_loc = at + (("pool",) if model.pool else ("name",))
        pool = model.pool_name
        if not is_dns1035_label(pool, POOL_NAME_MAX):
            violations.append(
                Violation(pool_loc, model.name, f"derives pool name {pool!r}, which is not {DNS1035_RULE}; "
                          f"set models[{index}].pool explicitly")
            )
        elif pool in pool_owner:
            violations.append(
                Violation(pool_loc, pool if model.pool else model.name,
                          f"pool name {pool!r} is already used by models[{pool_owner[pool]}]; "
                          f"set models[{index}].pool to another unique name, {DNS1035_RULE}")
            )
        else:
            pool_owner[pool] = index
    return name_owner, violations


def check_model(model: Model, at: Loc) -> list[Violation]:
    """One model on its own: timeouts, what its server kind runs, its cache, its arguments."""
    violations: list[Violation] = []
    if not 1 <= model.request_timeout_seconds <= MAX_REQUEST_TIMEOUT_SECONDS:
        violations.append(Violation(at + ("requestTimeout",), model.request_timeout, "allowed: 1s to 24h"))
    if model.server == "simulator" and model.tensor_parallel != 1:
        violations.append(
            Violation(at + ("tensorParallel",), model.tensor_parallel, "simulators use no GPUs; allowed: 1 (or set server: vllm)")
        )
    # Each workload has its cache claim; its pods share it.
    sharing_pods = max(w.max_replicas * w.nodes for w in model.workloads)
    if model.cache_storage_class and model.cache_access_mode == "ReadWriteOnce" and sharing_pods > 1:
        violations.append(
            Violation(at + ("cacheAccessMode",), model.cache_access_mode,
                      f"up to {sharing_pods} pods (replicas x nodes) cannot share a ReadWriteOnce volume; "
                      "allowed: ReadWriteMany (or a single pod)")
        )
    violations += check_source(model.source, at + ("source",))
    violations += check_extra_args(model.server, model.extra_args, at + ("extraArgs",))
    if model.server == "vllm":
        violations += [
            Violation(at + ("adapters", i), adapter.name,
                      "vLLM must know where to load an adapter from; write it as {name: ..., source: <hf repo or path>}")
            for i, adapter in enumerate(model.adapters)
            if adapter.source is None
        ]  # fmt: skip
    if model.multi_node:
        violations += check_multi_node(model, at)
    if model.prefill is not None:
        violations += check_disaggregation(model, at)
    return violations


def check_multi_node(model: Model, at: Loc) -> list[Violation]:
    if model.server == "simulator":
        return [Violation(at + ("nodes",), model.nodes, "a simulator runs in one pod; allowed: 1 (or set server: vllm)")]
    violations = []
    # LeaderWorkerSet names each group's worker StatefulSet `<set>-<group>`, and the StatefulSet
    # controller labels its pods `controller-revision-hash: <statefulset>-<hash of up to 10>`,
    # a label value of at most 63 characters (lws pkg/controllers; kubernetes#64023).
    longest = f"{model.server_name}-{model.max_replicas - 1}-{'x' * 10}"
    if len(longest) > 63:
        room = 63 - (len(longest) - len(model.pool_name))
        violations.append(
            Violation(at + (("pool",) if model.pool else ("name",)), model.pool_name,
                      f"a multi-node pool name may have at most {room} characters at up to {model.max_replicas} "
                      f"replicas: its LeaderWorkerSet's StatefulSets label their pods with "
                      f"'<pool>-server-<group>-<revision hash>', which must fit 63; set models[{at[1]}].pool")
        )
    if model.gpus_per_replica > MAX_GPUS_PER_REPLICA:
        violations.append(
            Violation(at + ("nodes",), model.nodes,
                      f"nodes x tensorParallel = {model.gpus_per_replica} GPUs per replica; at most {MAX_GPUS_PER_REPLICA}")
        )
    # Each node's vLLM worker loads its share of every adapter itself (from the Hub or the path
    # given), so a path would have to exist on every node.
    violations += [
        Violation(at + ("adapters", i, "source"), adapter.source,
                  f"with nodes: {model.nodes} every node loads the adapter itself and a path exists on one node only; "
                  "use a Hugging Face repo id")
        for i, adapter in enumerate(model.adapters)
        if adapter.source and adapter.source.startswith(("/", ".", "~"))
    ]  # fmt: skip
    return violations


def check_disaggregation(model: Model, at: Loc) -> list[Violation]:
    """Combinations the router or vLLM v0.19.1 cannot serve."""
    prefill = model.prefill
    assert prefill is not None
    violations = check_extra_args(model.server, prefill.extra_args, at + ("prefill", "extraArgs"))
    if model.server == "simulator" and prefill.tensor_parallel != 1:
        violations.append(
            Violation(at + ("prefill", "tensorParallel"), prefill.tensor_parallel,
                      "simulators use no GPUs; allowed: 1 (or set server: vllm)")
        )
    if model.multi_node:
        # A multi-node model runs one pipeline stage per node, and vLLM v0.19.1's NixlConnector
        # keys its handshake by tensor rank only: it does not support pipeline parallelism
        # (vllm-project/vllm#40674).
        violations.append(
            Violation(at + ("nodes",), model.nodes,
                      "a disaggregated model's decode side moves its KV cache over NIXL, which vLLM v0.19.1 does not "
                      "support across pipeline stages (one per node); allowed: 1, or remove prefill")
        )
    if model.autoscaling and model.autoscaling.min_replicas == 0:
        violations.append(
            Violation(at + ("autoscaling", "minReplicas"), 0,
                      "the pool's prefill pods keep it non-empty, so its picker would not hold a request for a decode "
                      "pod that is not there: it would answer 503 and never wake the decode side; allowed: 1 or more")
        )
    if prefill.autoscaling and prefill.autoscaling.min_replicas == 0:
        violations.append(
            Violation(at + ("prefill", "autoscaling", "minReplicas"), 0,
                      "with no prefill pod the picker computes every prompt on a decode pod, so no prefill queue ever "
                      "forms to wake the prefill side; allowed: 1 or more")
        )
    return violations


def check_scaling(
    models: Sequence[Model], monitoring: Monitoring, autoscaling: Autoscaling, platform: str, gpu_budget: Optional[int]
) -> list[Violation]:
    """Rules that span the catalog, monitoring, autoscaling and the GPU budget."""
    violations = _check_add_ons(monitoring, autoscaling, platform)
    scaled = [
        (at, scales)
        for index, model in enumerate(models)
        for at, scales in [(("models", index), model), (("models", index, "prefill"), model.prefill)]
        if scales is not None and scales.autoscaling is not None
    ]
    for at, scales in scaled:
        violations += _check_range(at, scales)
    if scaled:
        where = ", ".join(dotted_path(at) for at, _ in scaled[:5]) + (" ..." if len(scaled) > 5 else "")
        if not monitoring.enabled:
            violations.append(
                Violation(("monitoring", "enabled"), False,
                          f"{where} autoscale on the queue metrics that maas:monitoring scrapes and labels; set enabled: true")
            )
        if autoscaling.prometheus_url is None:
            violations.append(
                Violation(("autoscaling", "prometheusUrl"), None,
                          f"{where} autoscale but KEDA has no metrics source: set prometheusUrl to your "
                          "Prometheus, or monitoring.install: true to run one in the stack")
            )
    if gpu_budget is not None:
        violations += _check_gpu_budget(models, gpu_budget)
    return violations


def _check_add_ons(monitoring: Monitoring, autoscaling: Autoscaling, platform: str) -> list[Violation]:
    violations: list[Violation] = []
    if monitoring.install and not monitoring.enabled:
        violations.append(
            Violation(("monitoring", "install"), True,
                      "the installed Prometheus would have nothing of this stack to scrape; set enabled: true too")
        )
    for key, section, owner in (("monitoring", monitoring, "user-workload monitoring"),
                                ("autoscaling", autoscaling, "the Custom Metrics Autoscaler operator")):  # fmt: skip
        if platform == "openshift" and section.install:
            violations.append(Violation((key, "install"), True, f"OpenShift provides this through {owner}; allowed here: false"))
    return violations


def _check_gpu_budget(models: Sequence[Model], gpu_budget: int) -> list[Violation]:
    peaks = [(sum(w.max_replicas * w.gpus_per_replica for w in model.workloads), model.name) for model in models]
    peak = sum(gpus for gpus, _ in peaks)
    if peak <= gpu_budget:
        return []
    hungry = sorted(((gpus, name) for gpus, name in peaks if gpus), reverse=True)
    listed = ", ".join(f"{name} {gpus}" for gpus, name in hungry)
    return [
        Violation(("gpuBudget",), gpu_budget,
                  f"the catalog may ask for {peak} GPUs at its maximum replica counts ({listed}); "
                  "raise gpuBudget or lower maxReplicas, replicas or tensorParallel")
    ]


def _check_range(at: Loc, scales: Model | Prefill) -> list[Violation]:
    """A workload's autoscaling bounds, and its `replicas` within them; `at` is where the workload
    is configured (a model, or its `prefill`)."""
    scaling = scales.autoscaling
    assert scaling is not None
    if scaling.min_replicas > scaling.max_replicas:
        return [
            Violation(at + ("autoscaling", "minReplicas"), scaling.min_replicas,
                      f"exceeds maxReplicas ({scaling.max_replicas}); allowed: 0..{scaling.max_replicas}")
        ]
    if "replicas" in scales.model_fields_set and not scaling.min_replicas <= scales.replicas <= scaling.max_replicas:
        return [
            Violation(at + ("replicas",), scales.replicas,
                      f"contradicts autoscaling ({scaling.min_replicas}..{scaling.max_replicas}), which owns the "
                      "replica count; remove replicas or set it within that range")
        ]
    return []
