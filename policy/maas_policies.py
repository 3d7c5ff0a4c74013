"""The invariants a platform team wants on every `pulumi preview` of a maas stack (or any stack
that imports its components), as pulumi-policy validations.

Each check is a plain function over Kubernetes manifests, returning violation messages, so tests
call it directly; the policies wrap them. The pack stands alone (it does not import llm_maas): it
recognises objects by what Kubernetes and vLLM define, not by our labels.

What a policy cannot see decides two designs:
- pulumi-policy hands validations secret values already unwrapped (policy.py deserializes
  without `proxy_secrets`), so no policy can tell a Pulumi secret from plaintext. The config
  loader enforces that half (`maas:hfToken` must be set with --secret); this pack enforces that
  credentials never leave Secrets for env literals, ConfigMaps or flags.
- The analyzer's resource options carry no retainOnDelete (analyzer.proto
  AnalyzerResourceOptions), so retained CRDs are recognised by the keep annotations that the
  stack's CRD transform sets together with retainOnDelete.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

Manifest = Mapping[str, Any]

CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
NETWORK_POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INFERENCE_POOL_TYPE = "kubernetes:inference.networking.k8s.io/v1:InferencePool"
CLUSTER_RBAC_TYPES = (
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
)
# Reviewed, version-pinned installs of cluster add-ons (controllers need cluster-wide RBAC); an
# object they render has the installer's type in its URN's type chain.
ADD_ON_INSTALLERS = ("kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigFile")
# Where each workload kind keeps its pod templates.
POD_TEMPLATE_PATHS = {
    "kubernetes:apps/v1:Deployment": [("spec", "template")],
    "kubernetes:apps/v1:StatefulSet": [("spec", "template")],
    "kubernetes:apps/v1:DaemonSet": [("spec", "template")],
    "kubernetes:apps/v1:ReplicaSet": [("spec", "template")],
    "kubernetes:batch/v1:Job": [("spec", "template")],
    "kubernetes:batch/v1:CronJob": [("spec", "jobTemplate", "spec", "template")],
    "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet": [
        ("spec", "leaderWorkerTemplate", "leaderTemplate"),
        ("spec", "leaderWorkerTemplate", "workerTemplate"),
    ],
}
POD_TYPE = "kubernetes:core/v1:Pod"
# The keys the stack's CRD transform sets (and with them retainOnDelete).
KEEP_ANNOTATIONS = {
    "helm.sh/resource-policy": "keep",
    "argocd.argoproj.io/sync-options": "Delete=false",
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}
# A name that ends in a credential word: HF_TOKEN, REDIS_PASSWORD, --api-key, CLIENT_SECRET. Not
# one that says where the credential is (HF_TOKEN_PATH, --api-key-file), nor a token count or
# latency (--time-to-first-token, --max-tokens).
CREDENTIAL_NAME = re.compile(
    r"(^|[-_.])(?<!first[-_])(?<!max[-_])(?<!num[-_])(token|passw(or)?d|secret|api[-_]?key|credentials?)$",
    re.IGNORECASE,
)


# --- object walking -------------------------------------------------------------------------


def _at(obj: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def pod_templates(resource_type: str, props: Manifest) -> list[Manifest]:
    """The pod templates (metadata + spec) a workload object runs; a bare Pod is its own."""
    if resource_type == POD_TYPE:
        return [props]
    found = [_at(props, path) for path in POD_TEMPLATE_PATHS.get(resource_type, [])]
    return [template for template in found if isinstance(template, Mapping)]


def containers(pod_spec: Manifest) -> Iterator[Manifest]:
    for key in ("initContainers", "containers"):
        yield from pod_spec.get(key) or []


def _command_line(container: Manifest) -> str:
    return " ".join(str(part) for part in [*(container.get("command") or []), *(container.get("args") or [])])


def _count(value: Any) -> Any:
    """A count as an int whether it arrives as 8, 8.0 (the analyzer's protobuf numbers) or "8";
    anything else as given, so it never equals a real count."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() else number


def _words(command_line: str) -> list[str]:
    try:
        return shlex.split(command_line)
    except ValueError:
        return command_line.split()


def _flag(command_line: str, flag: str) -> Optional[str]:
    """The value of `--flag N` or `--flag=N` in a command line (shell scripts included)."""
    words = _words(command_line)
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


# --- the checks ---------------------------------------------------------------------------------


def gpu_violations(resource_type: str, props: Manifest) -> list[str]:
    """GPU requests equal limits, and a vLLM server asks for tensorParallel GPUs per pod while its
    pipeline-parallel size equals the pods in its group (a LeaderWorkerSet's size, else 1): the
    group holds tensorParallel x nodes GPUs, all of them in use."""
    problems = []
    group_size = _at(props, ("spec", "leaderWorkerTemplate", "size")) or 1
    for template in pod_templates(resource_type, props):
        for container in containers(template.get("spec") or {}):
            name = container.get("name", "?")
            resources = container.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            gpu_keys = sorted(k for k in {**requests, **limits} if "gpu" in k.lower())
            for key in gpu_keys:
                if _count(requests.get(key)) != _count(limits.get(key)):
                    problems.append(
                        f"container {name}: {key} requests {requests.get(key)} but limits {limits.get(key)}; "
                        "GPUs cannot be shared, so both must be the same count"
                    )
            command_line = _command_line(container)
            tensor = _flag(command_line, "--tensor-parallel-size")
            if tensor is None:
                continue
            pipeline = _flag(command_line, "--pipeline-parallel-size") or "1"
            gpus = {_count(limits.get(k) or requests.get(k)) for k in gpu_keys}
            if gpus != {_count(tensor)}:
                problems.append(
                    f"container {name}: --tensor-parallel-size {tensor} but it gets "
                    f"{', '.join(str(g) for g in sorted(gpus, key=str)) or 'no'} GPUs; every pod needs exactly "
                    "tensorParallel GPUs"
                )
            if _count(pipeline) != _count(group_size):
                problems.append(
                    f"container {name}: --pipeline-parallel-size {pipeline} but the group has {_count(group_size)} "
                    "pod(s); pipeline stages must equal nodes"
                )
    return problems


def image_violations(resource_type: str, props: Manifest) -> list[str]:
    """Every image names a digest or an explicit tag other than `latest`."""
    problems = []
    for template in pod_templates(resource_type, props):
        for container in containers(template.get("spec") or {}):
            image = str(container.get("image") or "")
            if "@sha256:" in image:
                continue
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            if not tag or tag == "latest":
                problems.append(
                    f"container {container.get('name', '?')}: image {image!r} is not pinned; "
                    "name a version tag or a digest (@sha256:...)"
                )
    return problems


def credential_violations(resource_type: str, props: Manifest) -> list[str]:
    """Credentials live in Secrets: no env literal, ConfigMap key or command-line flag whose name
    says token, password, secret, API key or credential carries a value of its own."""
    problems = []
    if resource_type == "kubernetes:core/v1:ConfigMap":
        for key in {**(props.get("data") or {}), **(props.get("binaryData") or {})}:
            if CREDENTIAL_NAME.search(key):
                problems.append(f"ConfigMap key {key!r} looks like a credential; keep it in a Secret")
    for template in pod_templates(resource_type, props):
        for container in containers(template.get("spec") or {}):
            name = container.get("name", "?")
            for env in container.get("env") or []:
                if CREDENTIAL_NAME.search(env.get("name", "")) and env.get("value"):
                    problems.append(
                        f"container {name}: env {env['name']} holds a literal value; "
                        "read it from a Secret (valueFrom.secretKeyRef or a mounted file)"
                    )
            words = _words(_command_line(container))
            for i, word in enumerate(words):
                flag, inline, _ = word.partition("=")
                if not flag.startswith("--") or not CREDENTIAL_NAME.search(flag):
                    continue
                if inline or (i + 1 < len(words) and not words[i + 1].startswith("-")):
                    problems.append(f"container {name}: flag {flag} carries a credential on the command line")
    return problems


def crd_retention_violations(resource_type: str, props: Manifest) -> list[str]:
    if resource_type != CRD_TYPE:
        return []
    annotations = _at(props, ("metadata", "annotations")) or {}
    missing = {k: v for k, v in KEEP_ANNOTATIONS.items() if annotations.get(k) != v}
    if not missing:
        return []
    return [
        f"CRD {_at(props, ('metadata', 'name'))} is not marked retained ({', '.join(f'{k}: {v}' for k, v in missing.items())}); "
        "deleting a CRD deletes every object of its kind cluster-wide. Install CRDs with the retain_crds transform"
    ]


def cluster_rbac_violations(resource_type: str, urn: str) -> list[str]:
    if resource_type not in CLUSTER_RBAC_TYPES:
        return []
    type_chain = urn.split("::")[2] if urn.count("::") >= 3 else ""
    if any(installer in type_chain.split("$") for installer in ADD_ON_INSTALLERS):
        return []
    return [
        f"{resource_type.rsplit(':', 1)[-1]} created by the stack's own code; namespaced Roles are enough for "
        "maas (only pinned add-on charts and release bundles may bring cluster-wide RBAC)"
    ]


def root_violations(resource_type: str, props: Manifest, exemptions: Mapping[str, str]) -> list[str]:
    """Every pod runs as non-root (pod-level runAsNonRoot, or on every container), unless
    `exemptions` documents why (key: namespace/name of the workload)."""
    metadata = props.get("metadata") or {}
    key = f"{metadata.get('namespace', 'default')}/{metadata.get('name', '?')}"
    if key in exemptions:
        return []
    problems = []
    for template in pod_templates(resource_type, props):
        spec = template.get("spec") or {}
        pod_level = (spec.get("securityContext") or {}).get("runAsNonRoot") is True
        for container in containers(spec):
            context = container.get("securityContext") or {}
            if context.get("runAsNonRoot") is False or context.get("runAsUser") == 0:
                problems.append(f"container {container.get('name', '?')} of {key} asks to run as root")
            elif not pod_level and context.get("runAsNonRoot") is not True:
                problems.append(
                    f"container {container.get('name', '?')} of {key} may run as root; set runAsNonRoot "
                    "(or document an exemption in the pack's rootExemptions config)"
                )
    return problems


def _selects(selector: Optional[Manifest], labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def isolation_violations(resources: Iterable[tuple[str, Manifest]]) -> list[str]:
    """When the stack has NetworkPolicies, every model-server pod (a pod an InferencePool selects)
    is selected by an ingress NetworkPolicy of its namespace."""
    resources = list(resources)
    policies = [p for t, p in resources if t == NETWORK_POLICY_TYPE]
    if not policies:
        return []
    pools = [p for t, p in resources if t == INFERENCE_POOL_TYPE]
    problems = []
    for resource_type, props in resources:
        namespace = _at(props, ("metadata", "namespace"))
        for template in pod_templates(resource_type, props):
            pod_labels = _at(template, ("metadata", "labels")) or {}
            served_by = [
                _at(pool, ("metadata", "name")) for pool in pools
                if _at(pool, ("metadata", "namespace")) == namespace
                and pod_labels
                and all(pod_labels.get(k) == v for k, v in (_at(pool, ("spec", "selector", "matchLabels")) or {}).items())
            ]
            if not served_by:
                continue
            isolated = any(
                _at(policy, ("metadata", "namespace")) == namespace
                and "Ingress" in (_at(policy, ("spec", "policyTypes")) or ["Ingress"])
                and _selects(_at(policy, ("spec", "podSelector")), pod_labels)
                for policy in policies
            )
            if not isolated:
                problems.append(
                    f"model server pods of {namespace}/{_at(props, ('metadata', 'name'))} (pool {served_by[0]}) "
                    "are selected by no ingress NetworkPolicy; any pod in the cluster could call them directly"
                )
    return problems


# --- the policies -------------------------------------------------------------------------------

ROOT_EXEMPTIONS_SCHEMA = PolicyConfigSchema(
    properties={
        "rootExemptions": {
            "type": "object",
            "additionalProperties": {"type": "string", "minLength": 10},
            "description": "namespace/name of a workload allowed to run as root -> the documented reason",
        }
    }
)


def _resource_policy(name: str, description: str, check: Callable[[ResourceValidationArgs], list[str]], **extra):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for problem in check(args):
            report_violation(problem, None)

    return ResourceValidationPolicy(
        name=name, description=description, enforcement_level=EnforcementLevel.MANDATORY, validate=validate, **extra
    )


def _validate_isolation(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for problem in isolation_violations((r.resource_type, r.props) for r in args.resources):
        report_violation(problem, None)


POLICIES = [
    _resource_policy(
        "gpu-requests-match-parallelism",
        "GPU requests equal limits and equal tensorParallel per pod, with pipeline stages equal to nodes.",
        lambda a: gpu_violations(a.resource_type, a.props),
    ),
    _resource_policy(
        "images-pinned",
        "Every container image names a version tag or a digest, never latest or nothing.",
        lambda a: image_violations(a.resource_type, a.props),
    ),
    _resource_policy(
        "credentials-stay-in-secrets",
        "No credential in an env literal, a ConfigMap or an inline flag; Secrets only.",
        lambda a: credential_violations(a.resource_type, a.props),
    ),
    _resource_policy(
        "crds-retained",
        "Every CRD the stack installs is retained: deleting one deletes its objects cluster-wide.",
        lambda a: crd_retention_violations(a.resource_type, a.props),
    ),
    _resource_policy(
        "no-cluster-rbac",
        "The stack's own code creates no ClusterRole or ClusterRoleBinding.",
        lambda a: cluster_rbac_violations(a.resource_type, a.urn),
    ),
    _resource_policy(
        "pods-non-root",
        "Every pod runs as non-root, except workloads listed with a reason in rootExemptions.",
        lambda a: root_violations(a.resource_type, a.props, a.get_config().get("rootExemptions") or {}),
        config_schema=ROOT_EXEMPTIONS_SCHEMA,
    ),
    StackValidationPolicy(
        name="model-servers-isolated",
        description="With NetworkPolicies on, every model-server pod is selected by an ingress NetworkPolicy.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate_isolation,
    ),
]
