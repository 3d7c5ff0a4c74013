"""Small builders shared by the components: object metadata and API identities."""

from __future__ import annotations

from typing import Mapping, NamedTuple, Optional, Protocol, Sequence, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models.listing import PRODUCT as PART_OF

T = TypeVar("T")

GATEWAY_API_GROUP = "gateway.networking.k8s.io"
INFERENCE_GROUP = "inference.networking.k8s.io"
LLMD_GROUP = "llm-d.ai"
AGENTGATEWAY_GROUP = "agentgateway.dev"
AGENTGATEWAY_API = f"{AGENTGATEWAY_GROUP}/v1alpha1"


class Kind(NamedTuple):
    """A custom resource's API identity."""

    api_version: str
    kind: str

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0]


GATEWAY = Kind(f"{GATEWAY_API_GROUP}/v1", "Gateway")
HTTP_ROUTE = Kind(f"{GATEWAY_API_GROUP}/v1", "HTTPRoute")
REFERENCE_GRANT = Kind(f"{GATEWAY_API_GROUP}/v1beta1", "ReferenceGrant")
INFERENCE_POOL = Kind(f"{INFERENCE_GROUP}/v1", "InferencePool")
INFERENCE_OBJECTIVE = Kind(f"{LLMD_GROUP}/v1alpha2", "InferenceObjective")
AGENTGATEWAY_POLICY = Kind(AGENTGATEWAY_API, "AgentgatewayPolicy")
AGENTGATEWAY_BACKEND = Kind(AGENTGATEWAY_API, "AgentgatewayBackend")
AGENTGATEWAY_PARAMETERS = Kind(AGENTGATEWAY_API, "AgentgatewayParameters")
OPENSHIFT_ROUTE = Kind("route.openshift.io/v1", "Route")
POD_MONITOR = Kind("monitoring.coreos.com/v1", "PodMonitor")
SCALED_OBJECT = Kind("keda.sh/v1alpha1", "ScaledObject")
TRIGGER_AUTHENTICATION = Kind("keda.sh/v1alpha1", "TriggerAuthentication")
LEADER_WORKER_SET = Kind("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")

# agentgateway labels its data plane pods with their Gateway's name (as Gateway API suggests).
DATA_PLANE_LABEL = "gateway.networking.k8s.io/gateway-name"

# agentgateway's data plane serves Prometheus /metrics on this named container port, 15020
# (controller/pkg/deployer, testdata *-out.yaml at v1.4.1).
DATA_PLANE_METRICS_PORT_NAME = "metrics"

# vLLM and the simulator both listen here; the InferencePool's targetPort.
MODEL_SERVER_PORT = 8000


CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
# Every tool that might delete a CRD is told not to: Helm (and Pulumi's Chart v4, which turns it
# into retainOnDelete), Argo CD's prune, Flux's prune. Deleting a CRD deletes every object of its
# kind on the cluster, other stacks' included.
KEEP_ANNOTATIONS = {
    "helm.sh/resource-policy": "keep",
    "argocd.argoproj.io/sync-options": "Delete=false",
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}


def retain_crds(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
    """Transform for a CRD bundle or a chart that ships CRDs: each CRD it registers is retained on
    destroy and carries KEEP_ANNOTATIONS, whatever the CLI's option inheritance, and in render mode
    too. Other objects pass unchanged."""
    if args.type_ != CRD_TYPE:
        return None
    metadata = dict(args.props.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **KEEP_ANNOTATIONS}
    return pulumi.ResourceTransformResult(
        props={**args.props, "metadata": metadata},
        opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )


def labels(component: str, name: str, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        **(extra or {}),
    }


def pool_labels(pool: str) -> dict[str, str]:
    """Labels of a pool's InferencePool, backend and HTTPRoutes."""
    return labels("inference-pool", pool)


# Selects every model's HTTPRoutes (and only those) in the model namespace.
MODEL_ROUTE_SELECTOR = {key: value for key, value in pool_labels("").items() if key != "app.kubernetes.io/name"}


def meta(
    name: pulumi.Input[str],
    namespace: Optional[pulumi.Input[str]],
    object_labels: Mapping[str, str],
    annotations: Optional[Mapping[str, str]] = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name, namespace=namespace, labels=dict(object_labels), annotations=annotations
    )


# The distroless "nonroot" user the EPP and simulator images are built for.
NONROOT_UID = 65532


def hardened_container_security(read_only_root: bool = False) -> k8s.core.v1.SecurityContextArgs:
    """No privilege escalation, no capabilities, the runtime's seccomp profile: every container;
    a read-only root filesystem where the image's writable paths are known and mounted."""
    return k8s.core.v1.SecurityContextArgs(
        read_only_root_filesystem=read_only_root or None,
        allow_privilege_escalation=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def nonroot_pod_security(
    platform: str, uid: int = NONROOT_UID, owns_volumes: bool = False
) -> k8s.core.v1.PodSecurityContextArgs:
    """For images that run as any non-root user. OpenShift's restricted-v2 SCC assigns a UID (and
    the volumes' group) from the namespace's range and rejects pods that ask for others;
    elsewhere `owns_volumes` makes mounted claims writable by that UID's group."""
    openshift = platform == "openshift"
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=None if openshift else uid,
        fs_group=uid if owns_volumes and not openshift else None,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def scanner_exceptions(reasons: Mapping[str, str]) -> dict[str, str]:
    """Annotations naming the findings of a third-party scanner that an object keeps on purpose,
    each with its reason, in the form checkov reads from the object itself
    (`checkov.io/skipN: CHECK_ID=reason`). README: Third-party scanners."""
    return {f"checkov.io/skip{index}": f"{check}={reason}" for index, (check, reason) in enumerate(reasons.items(), 1)}


def scratch_volume(size: str = "64Mi") -> tuple[k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs]:
    """A small writable /tmp for a container whose root filesystem is read-only."""
    return (
        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size)),
        k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
    )


def downward_env(*pairs: tuple[str, str]) -> list[k8s.core.v1.EnvVarArgs]:
    """Env vars filled from the pod's own metadata, e.g. ("POD_NAME", "metadata.name")."""
    return [
        k8s.core.v1.EnvVarArgs(
            name=env_name,
            value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path)),
        )
        for env_name, path in pairs
    ]


def child(parent: pulumi.Resource, **extra) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **extra)


def custom_resource(
    parent: pulumi.Resource,
    resource_name: str,
    kind: Kind,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    spec: pulumi.Input[dict],
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.apiextensions.CustomResource:
    """The one way the components build a custom resource: a child of `parent` that waits for
    `depends_on` (callers include the CRD installs of its API group)."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=kind.api_version,
        kind=kind.kind,
        metadata=metadata,
        spec=spec,
        opts=child(parent, depends_on=list(depends_on) or None),
    )


def target_ref(kind: Kind, name: str) -> dict[str, str]:
    """A policy's or grant's reference to an object of `kind` in its own namespace."""
    return {"group": kind.group, "kind": kind.kind, "name": name}


def namespace_peer(namespace: str, pod_labels: Optional[Mapping[str, str]] = None) -> dict:
    """A NetworkPolicy peer: the pods of `namespace` (those with `pod_labels`, when given)."""
    peer: dict = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


def data_plane_peer(gateway: "GatewayRef") -> dict:
    """A NetworkPolicy peer matching the gateway's data plane pods, and nothing else."""
    return namespace_peer(gateway.namespace, {DATA_PLANE_LABEL: gateway.name})


class GatewayRef(Protocol):
    name: str
    namespace: str


def selector_of(object_labels: Mapping[str, str]) -> dict[str, str]:
    """The stable subset of `labels()` that Deployments and Services select on."""
    return {key: object_labels[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/component")}


def surge_rollout() -> k8s.apps.v1.DeploymentStrategyArgs:
    """Replace pods without ever dropping below the desired count."""
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate",
        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
    )


def one_at_a_time_budget(
    parent: pulumi.Resource, resource_name: str, metadata: k8s.meta.v1.ObjectMetaArgs, selector: Mapping[str, str]
) -> k8s.policy.v1.PodDisruptionBudget:
    """Voluntary disruptions (node drains) take at most one of the selected pods at a time."""
    return k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata=metadata,
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
        ),
        opts=child(parent),
    )


def admit_ingress(
    parent: pulumi.Resource,
    resource_name: str,
    object_name: str,
    namespace: pulumi.Input[str],
    selected: Mapping[str, str],
    admitted: Sequence[tuple[Sequence[dict], Optional[int]]],
) -> k8s.networking.v1.NetworkPolicy:
    """Isolates the selected pods: each (sources, port) pair lets those sources open TCP
    connections to that port, and nothing else gets in. No sources means any source (the API
    server calling a webhook); port None means every port (NCCL's run-time ports)."""

    def rule(sources: Sequence[dict], port: Optional[int]) -> dict:
        return ({"from": list(sources)} if sources else {}) | (
            {"ports": [{"protocol": "TCP", "port": port}]} if port is not None else {}
        )

    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=meta(object_name, namespace, labels("network-policy", object_name)),
        spec={
            "podSelector": {"matchLabels": dict(selected)},
            "policyTypes": ["Ingress"],
            "ingress": [rule(sources, port) for sources, port in admitted],
        },
        opts=child(parent),
    )


def account_with_role(
    parent: pulumi.Resource,
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    object_labels: Mapping[str, str],
    rules: Sequence[k8s.rbac.v1.PolicyRuleArgs],
) -> k8s.core.v1.ServiceAccount:
    """A ServiceAccount granted `rules` in its own namespace (Role and RoleBinding of the same name)."""
    account = k8s.core.v1.ServiceAccount(resource_name, metadata=meta(name, namespace, object_labels), opts=child(parent))
    role = k8s.rbac.v1.Role(resource_name, metadata=meta(name, namespace, object_labels), rules=list(rules), opts=child(parent))
    k8s.rbac.v1.RoleBinding(
        resource_name,
        metadata=meta(name, namespace, object_labels),
        role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=name),
        subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=name, namespace=namespace)],
        opts=child(parent, depends_on=[role, account]),
    )
    return account


def add_on_namespace(parent: pulumi.Resource, resource_name: str, namespace: str, component: str) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name, metadata=meta(namespace, None, labels(component, namespace)), opts=child(parent)
    )


def pinned_chart(
    parent: pulumi.Resource,
    resource_name: str,
    chart: str,
    version: str,
    repository: str,
    namespace: str,
    values: dict,
    depends_on: Sequence[pulumi.Resource],
) -> k8s.helm.v4.Chart:
    """A cluster add-on from its Helm chart at an exact version, from an HTTPS repository or an OCI
    registry path. Pulumi renders it (so every object shows in preview, CRDs first) and releases it
    under the chart's own name."""
    oci = repository.startswith("oci://")
    return k8s.helm.v4.Chart(
        resource_name,
        name=chart,
        chart=f"{repository}/{chart}" if oci else chart,
        version=version,
        repository_opts=None if oci else k8s.helm.v4.RepositoryOptsArgs(repo=repository),
        namespace=namespace,
        values=values,
        # Add-on charts ship CRDs too (KEDA's, prometheus-operator's): retained like ours.
        opts=child(parent, depends_on=list(depends_on), transforms=[retain_crds]),
    )


def kubernetes_target(name: str, render_yaml_to: Optional[str]) -> Optional[pulumi.ResourceOptions]:
    """Options that send every Kubernetes object under a component to YAML files instead of the
    cluster (GitOps render mode), or None for the stack's own cluster. The provider is inherited
    by every child, Helm charts and CRD bundles included: they render through it too (CRDs into
    `0-crd/`, the rest into `1-manifest/`)."""
    if render_yaml_to is None:
        return None
    return pulumi.ResourceOptions(
        provider=k8s.Provider(f"{name}-render", render_yaml_to_directory=render_yaml_to)
    )


def known(value: T) -> pulumi.Output[T]:
    """An output of a plain list or dict, known now. `Output.from_input` unwraps a container
    element by element (an Output and a task each: thousands for a large catalog's names), which
    a value with no Output inside does not need."""
    return pulumi.Output.from_input(None).apply(lambda _: value)
