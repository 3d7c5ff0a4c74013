"""Small builders shared by the components: object metadata and API identities."""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "maas"

GATEWAY_API_GROUP = "gateway.networking.k8s.io"
INFERENCE_GROUP = "inference.networking.k8s.io"
INFERENCE_X_GROUP = "inference.networking.x-k8s.io"
AGENTGATEWAY_GROUP = "agentgateway.dev"
AGENTGATEWAY_API = f"{AGENTGATEWAY_GROUP}/v1alpha1"

# vLLM and the simulator both listen here; the InferencePool's targetPort.
MODEL_SERVER_PORT = 8000

# agentgateway cancels a request that outlives this; long generations stream within it.
REQUEST_TIMEOUT = "300s"


def labels(component: str, name: str, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        **(extra or {}),
    }


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


def hardened_container_security() -> k8s.core.v1.SecurityContextArgs:
    """No privilege escalation, no capabilities, the runtime's seccomp profile: every container."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def nonroot_pod_security(platform: str) -> k8s.core.v1.PodSecurityContextArgs:
    """For images that run as any non-root user (EPP, simulator). OpenShift's restricted-v2 SCC
    assigns a UID from the namespace's range and rejects pods that ask for another one."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=None if platform == "openshift" else NONROOT_UID,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
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
