"""Pydantic v2 models of the `maas:` stack config: the single source of truth.

Every rule that spans fields (unique client names, unique pool names, platform constraints) is
checked here, so a bad config stops `pulumi preview` before any resource is registered.
Defaults that depend on other keys (listener port per platform, images per version pin, pool
names per model name) are resolved here too, so components never re-derive them.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple, Optional

from pydantic import Field, PositiveInt, SecretStr, ValidationInfo, model_validator
from pydantic.alias_generators import to_snake

from .catalog import Model
from .catalog_rules import check_model, check_names, check_scaling
from .consumers import Consumer, RateLimit, check_consumer_groups, check_consumers
from .errors import ConfigError, Violation
from .identity import check_gateway_name, check_namespaces, check_route_names
from .listing import check_listing
from .scaling import Autoscaling, Monitoring, resolve_scaling
from .spend import Team, budgets_enforced
from .tiers import Tier
from .types import DNS1123Label, DNS1123Subdomain, GatewayName, Hostname, Image, Release, RenderDirectory, Resources, StrictModel


class Versions(StrictModel):
    """Every pinned version. Defaults are the versions in force (November 2026)."""

    gateway_api: Release = Field("v1.6.1", description="Gateway API release whose standard-channel CRDs are installed.")
    inference_extension: Release = Field(
        "v1.6.0",
        description="Gateway API Inference Extension release whose InferencePool CRD is installed (since v1.6.0 "
        "the endpoint picker and its objective APIs live in the llm-d router).",
    )
    llmd_router: Release = Field(
        "v0.10.0",
        description="llm-d router release whose InferenceObjective and InferenceModelRewrite CRDs (llm-d.ai) "
        "are installed; eppImage must come from the same release line.",
    )
    agentgateway: Release = Field("v1.4.1", description="Version of the agentgateway-crds and agentgateway charts.")
    agentgateway_charts: str = Field(
        "oci://cr.agentgateway.dev/charts",
        pattern=r"^(oci|https)://\S+$",
        description="OCI or HTTPS repository holding the agentgateway charts (set a mirror here).",
    )
    epp_image: Image = Field(
        "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0",
        description="Endpoint picker image run for every pool: the llm-d router's, as repo:tag or "
        "repo:tag@sha256:digest (the tag says which configuration API it reads).",
    )
    disagg_sidecar_image: Image = Field(
        "ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.10.0",
        description="The llm-d router's P/D sidecar, in front of vLLM on the decode pods of a model with `prefill`.",
    )
    vllm_image: Image = Field("vllm/vllm-openai:v0.19.1", description="Default image of vLLM model servers.")
    simulator_image: Image = Field(
        "ghcr.io/llm-d/llm-d-inference-sim:v0.8.2",
        description="Default image of simulator model servers.",
    )
    model_list_image: Image = Field(
        "nginxinc/nginx-unprivileged:1.30.4-alpine-slim",
        description="Static server answering GET /v1/models (runs as UID 101).",
    )
    rate_limit_image: Image = Field(
        # Envoy Gateway v1.8's default pin; per-descriptor hits_addend (token costs) needs 2025+.
        "docker.io/envoyproxy/ratelimit:1e50889b",
        description="envoyproxy/ratelimit, the shared budget service (distroless, UID 65532).",
    )
    redis_image: Image = Field(
        # The newest patch of the 7.4 line (its security releases land as patches): bump it with
        # each 7.4.x release, as Redis's release notes and the official image tags announce them.
        "redis:7.4.11-alpine", description="Redis holding the rate-limit counters (runs as UID 10999, no persistence)."
    )
    kube_prometheus_stack: str = Field(
        # The newest chart that ships prometheus-operator v0.93.0, whose CRDs the tests validate against.
        "88.3.0",
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
        description="kube-prometheus-stack chart installed by monitoring.install (prometheus-operator v0.93.0).",
    )
    prometheus_operator: Release = Field(
        "v0.93.0",
        description="prometheus-operator release whose CRDs kubePrometheusStack installs (charts 88.0.0-88.3.0 "
        "ship v0.93.0); the schema tests and `make crds` read the CRDs of this release.",
    )
    prometheus_charts: str = Field(
        "https://prometheus-community.github.io/helm-charts",
        pattern=r"^(oci|https)://\S+$",
        description="Helm repository of kube-prometheus-stack (set a mirror here).",
    )
    keda: str = Field(
        "2.20.2", pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$", description="KEDA chart (and app) version installed by autoscaling.install."
    )
    keda_charts: str = Field(
        "https://kedacore.github.io/charts",
        pattern=r"^(oci|https)://\S+$",
        description="Helm repository of the KEDA chart (set a mirror here).",
    )
    leader_worker_set: Release = Field(
        "v0.10.0",
        description="LeaderWorkerSet release: the controller chart leaderWorkerSet.install installs, and the "
        "CRD the schema tests and `make crds` read.",
    )
    leader_worker_set_charts: str = Field(
        "oci://registry.k8s.io/lws/charts",
        pattern=r"^(oci|https)://\S+$",
        description="OCI or HTTPS repository holding the `lws` chart (set a mirror here).",
    )

    @property
    def gateway_api_crds_url(self) -> str:
        return (
            "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
            f"{self.gateway_api}/standard-install.yaml"
        )

    @property
    def inference_extension_crds_url(self) -> str:
        return (
            "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/"
            f"{self.inference_extension}/manifests.yaml"
        )

    @property
    def llmd_router_crd_urls(self) -> list[str]:
        """The llm-d.ai CRD files at the pinned router tag (`config/crd/bases`; its kustomization
        lists these two beside GAIE's InferencePool, which `inference_extension` pins)."""
        return [
            f"https://raw.githubusercontent.com/llm-d/llm-d-router/{self.llmd_router}/config/crd/bases/llm-d.ai_{plural}.yaml"
            for plural in ("inferenceobjectives", "inferencemodelrewrites")
        ]

    @property
    def keda_release(self) -> str:
        return f"v{self.keda}"

    @property
    def keda_crds_url(self) -> str:
        return f"https://github.com/kedacore/keda/releases/download/{self.keda_release}/keda-{self.keda}-crds.yaml"

    @property
    def prometheus_operator_crds_url(self) -> str:
        return (
            "https://github.com/prometheus-operator/prometheus-operator/releases/download/"
            f"{self.prometheus_operator}/stripped-down-crds.yaml"
        )

    @property
    def leader_worker_set_chart_version(self) -> str:
        """The lws chart is versioned like the release, without the v."""
        return self.leader_worker_set.removeprefix("v")

    @property
    def leader_worker_set_crd_url(self) -> str:
        return (
            f"https://raw.githubusercontent.com/kubernetes-sigs/lws/{self.leader_worker_set}/"
            "config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml"
        )

    def agentgateway_chart(self, chart: str) -> str:
        return f"{self.agentgateway_charts}/{chart}"

    def check_router_images(self) -> list[Violation]:
        """Every pool's EndpointPickerConfig is written in the llm-d.ai structure of the pinned
        router release, the objectives the picker reads are the CRDs of that release, and the
        P/D sidecar speaks that picker's headers: so both images must be the router's own, tagged
        in the same release line (a mirror is fine)."""
        if _version(self.llmd_router) < OLDEST_ROUTER:
            return [Violation(("versions", "llmdRouter"), self.llmd_router,
                              "the endpoint picker configuration, flow control and priority bands this stack writes "
                              "are those of v0.10; allowed: v0.10.0 or later")]
        return [v for key, image in ROUTER_IMAGES.items() for v in self._router_image(key, image)]

    def _router_image(self, key: str, expected: "RouterImage") -> list[Violation]:
        image = getattr(self, to_snake(key))
        match = re.match(rf"^(.+/)?{expected.repository}:(?P<tag>{TAG})(@sha256:[a-f0-9]{{64}})?$", image)
        wanted = f"{expected.repository}:{_release_line(self.llmd_router)}.x"
        if match is None:
            return [Violation(("versions", key), image,
                              f"must be the llm-d router's {expected.what} pinned by tag, e.g. ghcr.io/llm-d/{wanted} "
                              f"or with @sha256:<digest> after the tag{expected.note}")]
        if _release_line(match["tag"]) != _release_line(self.llmd_router):
            return [Violation(("versions", key), image,
                              f"is from another release than versions.llmdRouter {self.llmd_router}, whose CRDs and "
                              f"headers it must share; allowed: {wanted} (or change llmdRouter with it)")]
        return []


class RouterImage(NamedTuple):
    repository: str
    what: str
    note: str = ""


# versions key -> the router image it must name.
ROUTER_IMAGES = {
    "eppImage": RouterImage(
        "llm-d-router-endpoint-picker", "endpoint picker",
        " (GAIE's own EPP image stopped at v1.5.0 and reads another configuration API)",
    ),
    "disaggSidecarImage": RouterImage("llm-d-router-disagg-sidecar", "P/D sidecar"),
}  # fmt: skip
TAG = r"v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?"


OLDEST_ROUTER = (0, 10)


def _version(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in tag.removeprefix("v").split("-")[0].split("."))


def _release_line(tag: str) -> str:
    """v0.10.2 -> v0.10: releases of one line share their configuration and CRD versions."""
    return ".".join(tag.split("-")[0].split(".")[:2])


class LeaderWorkerSetController(StrictModel):
    install: bool = Field(
        False,
        description="Install the LeaderWorkerSet controller from its pinned chart; otherwise the cluster "
        "must run it (README: Models bigger than one node).",
    )
    namespace: DNS1123Label = Field("lws-system", description="Namespace of the installed controller.")


class Route(StrictModel):
    """OpenShift Route in front of the gateway Service, TLS terminated at the router."""

    enabled: bool = Field(True, description="Create the Route.")
    host: Optional[Hostname] = Field(None, description="Route host; the router assigns one when unset.")


class Gateway(StrictModel):
    name: GatewayName = Field("inference-gateway", description="Gateway name (also its data plane's name).")
    namespace: DNS1123Label = Field("agentgateway-system", description="Namespace of the gateway and control plane.")
    class_name: str = Field("agentgateway", min_length=1, description="GatewayClass created by the agentgateway chart.")
    port: Optional[int] = Field(None, ge=1, le=65535, description="Listener port; 80 on Kubernetes, 8080 on OpenShift.")
    service_type: Literal["LoadBalancer", "ClusterIP"] = Field(
        "LoadBalancer", description="Type of the data plane Service."
    )
    route: Optional[Route] = Field(None, description="OpenShift only: the Route exposing the gateway.")

    @property
    def listener_port(self) -> int:
        assert self.port is not None, "resolved by Config"
        return self.port


class Epp(StrictModel):
    replicas: int = Field(1, ge=1, le=5, description="Endpoint picker replicas per pool; >1 enables leader election.")
    resources: Resources = Field(
        Resources(cpu="4", memory="8Gi", memory_limit="16Gi"),
        description="Endpoint picker resources (the upstream chart's defaults).",
    )
    failure_mode: Literal["FailOpen", "FailClose"] = Field(
        "FailOpen", description="What the gateway does when the endpoint picker is unreachable."
    )


class Config(StrictModel):
    """Everything under `maas:` in a stack file."""

    platform: Literal["kubernetes", "openshift"] = Field(
        "kubernetes",
        description="kubernetes or openshift. OpenShift adds the data plane's SCC binding and a TLS-edge "
        "Route, listens on 8080 and leaves the Gateway API CRDs to the platform.",
    )
    namespace: DNS1123Label = Field("llm-d", description="Namespace of the pools, endpoint pickers and model servers.")
    gateway: Gateway = Field(
        default_factory=Gateway,
        description="The gateway: name, namespace, className, port (80; 8080 on OpenShift), "
        "serviceType (LoadBalancer | ClusterIP), route {enabled, host} on OpenShift.",
    )
    gateway_api_crds: Literal["auto", "install", "platform"] = Field(
        "auto",
        description="install the Gateway API CRDs, or leave them to the platform; auto installs them "
        "on Kubernetes and leaves them to OpenShift 4.19+, whose Ingress Operator owns them.",
    )
    versions: Versions = Field(
        default_factory=Versions, description="Chart, CRD bundle and image pins; set only the ones to change."
    )
    epp: Epp = Field(
        default_factory=Epp,
        description="Endpoint picker (EPP) settings shared by all pools: replicas, resources, failureMode.",
    )
    models: list[Model] = Field(
        min_length=1,
        description="The model catalog. Each entry: name (required), adapters, server (vllm | simulator), "
        "replicas, tensorParallel, image, extraArgs, resources, nodeSelector, tolerations, maxModelLen, "
        "gpuResource, cacheSize, pool, ... (README: Config reference).",
    )
    protect_crds: bool = Field(
        False,
        description="Protect the CRD installs, so no `pulumi destroy` or refactor can delete them "
        "(they are always retained on destroy).",
    )
    network_policies: bool = Field(
        True,
        description="NetworkPolicies that let only the gateway reach model servers and endpoint "
        "pickers (and each EPP its own pool). Turn off where the CNI does not enforce them.",
    )
    hf_token: Optional[SecretStr] = Field(
        None, description="Hugging Face token (set with --secret); vLLM servers read it from a Secret."
    )
    hf_token_secret: Optional[DNS1123Subdomain] = Field(
        None,
        description="Name of a Secret you manage (External Secrets, Sealed Secrets) in the model namespace "
        "whose HF_TOKEN key vLLM servers read, instead of `hfToken`.",
    )
    render_yaml_to: Optional[RenderDirectory] = Field(
        None,
        description="GitOps render mode: write every object as YAML under this directory (for Argo CD or "
        "Flux) instead of applying it to a cluster.",
    )
    consumers: list[Consumer] = Field(
        default_factory=list,
        description="Who may call the gateway, each with its own API key: name (required), models, "
        "tokensPerMinute, requestsPerMinute, keyVersion, tier, team. Empty: the gateway is open to anyone who reaches it.",
    )
    teams: list[Team] = Field(
        default_factory=list,
        description="Teams, each {name, spendPerDay}: consumers of one team (`team`) share a daily spend budget "
        "in maas:currency, priced by each model's `price`.",
    )
    currency: str = Field(
        "USD", pattern=r"^[A-Z]{3}$", description="What model prices and team budgets are in (ISO 4217 code); a label only."
    )
    tiers: list[Tier] = Field(
        default_factory=list,
        description="Consumer tiers, each {name, priority}: under saturation a pool serves higher priorities "
        "first, and consumers of one tier fairly. Consumers pick one with `tier`.",
    )
    rate_limit: RateLimit = Field(
        default_factory=RateLimit,
        description="Where consumers' shared budgets are kept: install (envoyproxy/ratelimit + Redis in the "
        "stack) or service {name, namespace, port}; failureMode FailOpen | FailClosed; domain; replicas.",
    )

    monitoring: Monitoring = Field(
        default_factory=Monitoring,
        description="Scraping and dashboards: enabled (PodMonitors), install (kube-prometheus-stack on kind), "
        "dashboards, namespace, scraper {namespace, podLabels}, podMonitorLabels, scrapeInterval.",
    )
    autoscaling: Autoscaling = Field(
        default_factory=Autoscaling,
        description="KEDA for models with `autoscaling`: install (pinned chart on kind), namespace, "
        "prometheusUrl, bearerToken.",
    )
    leader_worker_set: LeaderWorkerSetController = Field(
        default_factory=lambda: LeaderWorkerSetController(),
        description="The LeaderWorkerSet controller that models with nodes > 1 need: install (pinned chart) "
        "or the cluster's own, namespace.",
    )
    gpu_budget: Optional[PositiveInt] = Field(
        None, description="Most GPUs the catalog may ever ask for (every model at its maximum replicas)."
    )

    @model_validator(mode="after")
    def _resolve_and_check(self, info: ValidationInfo) -> "Config":
        # When the loader re-checks a config without its unparsable entries, it names what those
        # entries declare, so references to them are not reported twice (loader.validate).
        context = info.context or {}
        violations: list[Violation] = []
        self._resolve_platform_defaults(violations)
        self._resolve_images()
        name_owner, found = check_names(self.models)
        violations += found
        for index, model in enumerate(self.models):
            violations += check_model(model, ("models", index))
        violations += check_listing(self.served_names)
        declared = {name: ("models",) for name in context.get("declared_names", ())}
        violations += check_consumers(self.consumers, self.rate_limit, {**declared, **name_owner}, self.budgets_enforced)
        for key, field, groups in (("teams", "team", self.teams), ("tiers", "tier", self.tiers)):
            names = [group.name for group in groups]
            violations += check_consumer_groups(key, field, names, self.consumers, context.get(f"declared_{key}", set()))
        resolve_scaling(self.monitoring, self.autoscaling, self.platform)
        violations += check_scaling(
            self.models, self.monitoring, self.autoscaling, self.platform, self.gpu_budget
        )
        violations += self._check_token_source()
        violations += self.versions.check_router_images()
        violations += check_gateway_name(
            self.gateway.name, self.rate_limit.install and self.budgets_enforced, self.monitoring.enabled
        )
        violations += check_route_names(self.models) + check_namespaces(self.created_namespaces)
        if self.namespace == self.gateway.namespace:
            violations.append(
                Violation(
                    ("namespace",),
                    self.namespace,
                    "must differ from gateway.namespace so the data plane and model servers stay isolated",
                )
            )
        if violations:
            raise ConfigError(violations)
        for scaled in [*self.models, *(m.prefill for m in self.models if m.prefill is not None)]:
            if scaled.autoscaling and "replicas" not in scaled.model_fields_set:
                scaled.replicas = scaled.autoscaling.min_replicas
        return self

    def _resolve_platform_defaults(self, violations: list[Violation]) -> None:
        openshift = self.platform == "openshift"
        if self.gateway.port is None:
            # OpenShift's nonroot SCC cannot bind privileged ports.
            self.gateway.port = 8080 if openshift else 80
        if self.gateway_api_crds == "auto":
            self.gateway_api_crds = "platform" if openshift else "install"
        elif openshift and self.gateway_api_crds == "install":
            violations.append(
                Violation(
                    ("gatewayApiCrds",),
                    self.gateway_api_crds,
                    "OpenShift 4.19+ owns the Gateway API CRDs and guards them; allowed here: platform",
                )
            )
        if openshift and self.leader_worker_set.install:
            violations.append(
                Violation(("leaderWorkerSet", "install"), True,
                          "OpenShift provides LeaderWorkerSet through the Red Hat build of the LeaderWorkerSet "
                          "Operator; install it there and set install: false")
            )
        if openshift and self.gateway.route is None:
            self.gateway.route = Route()
        elif not openshift and self.gateway.route is not None:
            violations.append(
                Violation(("gateway", "route"), self.gateway.route.model_dump(by_alias=True),
                          "Routes exist only on OpenShift; set platform: openshift or remove gateway.route")
            )

    def _resolve_images(self) -> None:
        for model in self.models:
            if model.image is None:
                model.image = self.versions.vllm_image if model.server == "vllm" else self.versions.simulator_image

    def _check_token_source(self) -> list[Violation]:
        if self.hf_token is not None and self.hf_token_secret is not None:
            return [Violation(("hfTokenSecret",), self.hf_token_secret,
                              "the token comes from hfToken or from this Secret, not both; remove one")]
        if self.hf_token is not None and self.render_yaml_to is not None:
            # The rendered files are plain YAML headed for Git: a token there is a leaked token.
            return [Violation(("hfToken",), "[secret]",
                              f"render mode would write it in plaintext under {self.render_yaml_to}; "
                              "remove it and set hfTokenSecret to a Secret you manage")]
        return []

    @property
    def served_names(self) -> list[str]:
        return [name for model in self.models for name in model.served_names]

    @property
    def created_namespaces(self) -> list[tuple[tuple[str, ...], str]]:
        """Where each namespace the stack creates is configured, and its name."""
        created = [(("gateway", "namespace"), self.gateway.namespace), (("namespace",), self.namespace)]
        if self.monitoring.install:
            created.append((("monitoring", "namespace"), self.monitoring.namespace))
        if self.autoscaling.install and any(workload.autoscaling for workload in self.workloads):
            created.append((("autoscaling", "namespace"), self.autoscaling.namespace))
        if self.leader_worker_set.install:
            created.append((("leaderWorkerSet", "namespace"), self.leader_worker_set.namespace))
        return created

    @property
    def budgets_enforced(self) -> bool:
        return budgets_enforced(self.consumers, self.teams)

    @property
    def longest_request_timeout_seconds(self) -> float:
        return max(model.request_timeout_seconds for model in self.models)

    @property
    def total_gpus(self) -> int:
        """GPUs at the configured replica counts (an autoscaled model's `replicas`, or its minimum)."""
        return sum(w.replicas * w.gpus_per_replica for w in self.workloads)

    @property
    def gpus_at_min(self) -> int:
        return sum(w.min_replicas * w.gpus_per_replica for w in self.workloads)

    @property
    def gpus_at_max(self) -> int:
        return sum(w.max_replicas * w.gpus_per_replica for w in self.workloads)

    @property
    def workloads(self) -> list[Model]:
        """Every set of server pods: each model's, and a disaggregated model's prefill pods."""
        return [workload for model in self.models for workload in model.workloads]
