"""RateLimitService: envoyproxy/ratelimit with Redis, the store every gateway replica shares for
consumer budgets.

Facts this follows (envoyproxy/ratelimit at f2fb1577, settings.go, file_provider.go; goruntime
v0.3.0 DirectoryRefresher):
- configuration is every file in RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/RUNTIME_APPDIRECTORY;
- with RUNTIME_WATCH_ROOT=false it watches that directory itself, so kubelet's in-place swap of a
  ConfigMap volume (never a subPath mount) reloads the limits without a restart, and
  RUNTIME_IGNOREDOTFILES=true keeps it from also loading kubelet's `..<timestamp>` copy;
- a reload that fails to parse is logged and the previous limits stay in force;
- Redis counters carry TTLs, so Redis keeps nothing on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from llm_maas.models.names import RATE_LIMIT, RATE_LIMIT_STORE, gateway_object

from ..kube import (
    GatewayRef,
    admit_ingress,
    child,
    data_plane_peer,
    hardened_container_security,
    labels,
    meta,
    nonroot_pod_security,
    one_at_a_time_budget,
    scanner_exceptions,
    selector_of,
    surge_rollout,
)

# The budget headers every model answer carries: the most constrained of the consumer's budgets,
# what is left of it, and the seconds until its minute resets (settings.go, service/ratelimit.go).
# agentgateway copies them onto 429s and successes alike (http/remoteratelimit.rs at v1.4.1).
# `retry-after` is what OpenAI's SDKs wait for before a retry; the x-ratelimit-* pair mirrors the
# names OpenAI sends.
RESPONSE_HEADERS = {
    "LIMIT_RESPONSE_HEADERS_ENABLED": "true",
    "LIMIT_LIMIT_HEADER": "x-ratelimit-limit",
    "LIMIT_REMAINING_HEADER": "x-ratelimit-remaining",
    "LIMIT_RESET_HEADER": "retry-after",
}

# envoyproxy/ratelimit reads the Redis password from the REDIS_AUTH environment variable only
# (src/settings/settings.go: no file variant), so it is an env var filled from the Secret.
SERVICE_SCANNER_EXCEPTIONS = {
    "CKV_K8S_35": "envoyproxy/ratelimit reads the Redis password only from the REDIS_AUTH env var; it comes from a Secret"
}

GRPC_PORT = 8081
HTTP_PORT = 8080  # /healthcheck
REDIS_PORT = 6379
CONFIG_ROOT = "/data"
CONFIG_SUBDIRECTORY = "ratelimit"
CONFIG_FILE = "config.yaml"
# Not the image's own `redis` user (999): a UID of 10000 or more never matches a user of the node
# (checkov CKV_K8S_40). Redis needs no passwd entry; it reads its config (a Secret volume, 0644)
# and, with no persistence, writes nothing but its emptyDir working directory. The image's
# entrypoint only drops privileges when started as root, so it runs as given.
REDIS_UID = 10999
REDIS_CONF_DIR = "/etc/redis"


def redis_conf(password: str) -> str:
    """Counters only: no snapshots, no append-only file; under memory pressure drop the counters
    closest to expiry rather than fail writes."""
    return "\n".join(
        [
            "save \"\"",
            "appendonly no",
            "maxmemory 96mb",
            "maxmemory-policy volatile-ttl",
            f"requirepass {password}",
            "",
        ]
    )


@dataclass
class RateLimitServiceArgs:
    gateway: GatewayRef
    """The gateway whose data plane calls the service; the service lives in its namespace."""
    config: str
    """The envoyproxy/ratelimit configuration document (domain and descriptors)."""
    image: str
    redis_image: str
    replicas: int = 1
    platform: str = "kubernetes"
    network_policies: bool = True


class RateLimitService(pulumi.ComponentResource):
    backend_ref: dict
    """How an AgentgatewayPolicy's `rateLimit.global.backendRef` names the gRPC service."""

    def __init__(self, name: str, args: RateLimitServiceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:RateLimitService", name, None, opts)
        ns = args.gateway.namespace
        service_name = gateway_object(args.gateway.name, RATE_LIMIT)
        redis_name = gateway_object(args.gateway.name, RATE_LIMIT_STORE)
        service_labels = labels("rate-limit", service_name)
        redis_labels = labels("rate-limit-store", redis_name)
        service_selector = selector_of(service_labels)
        redis_selector = selector_of(redis_labels)

        # Redis is reachable by the rate-limit pods only (NetworkPolicy), and by password too:
        # with policies off, no other pod can reset a consumer's budget.
        password = random.RandomPassword(f"{name}-redis-password", length=32, special=False, opts=child(self))
        credentials = k8s.core.v1.Secret(
            f"{name}-redis",
            metadata=meta(redis_name, ns, redis_labels),
            type="Opaque",
            string_data={
                "password": password.result,
                "redis.conf": password.result.apply(redis_conf),
            },
            opts=child(self),
        )
        redis = self._redis(name, args, redis_name, redis_labels, redis_selector, [credentials])
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=meta(service_name, ns, service_labels),
            data={CONFIG_FILE: args.config},
            opts=child(self),
        )
        deployment = self._rate_limit(
            name, args, service_name, service_labels, service_selector, redis_name, [config, credentials, redis]
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(service_name, ns, service_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=service_selector,
                # agentgateway speaks gRPC to it: HTTP/2 without TLS.
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="grpc", port=GRPC_PORT, target_port=GRPC_PORT, app_protocol="kubernetes.io/h2c"
                    )
                ],
            ),
            opts=child(self, depends_on=[deployment]),
        )
        if args.replicas > 1:
            one_at_a_time_budget(
                self, f"{name}-disruption-budget", meta(service_name, ns, service_labels), service_selector
            )
        if args.network_policies:
            admit_ingress(
                self, f"{name}-ingress", service_name, ns, service_selector, [([data_plane_peer(args.gateway)], GRPC_PORT)]
            )
            admit_ingress(
                self,
                f"{name}-redis-ingress",
                redis_name,
                ns,
                redis_selector,
                [([{"podSelector": {"matchLabels": service_selector}}], REDIS_PORT)],
            )

        self.backend_ref = {"name": service_name, "namespace": ns, "port": GRPC_PORT}
        self.service_name = service.metadata.apply(lambda m: m.name)
        self.register_outputs({"service_name": self.service_name})

    def _redis(
        self,
        name: str,
        args: RateLimitServiceArgs,
        redis_name: str,
        redis_labels: dict[str, str],
        selector: dict[str, str],
        depends_on: Sequence[pulumi.Resource],
    ) -> k8s.core.v1.Service:
        ns = args.gateway.namespace
        tcp = k8s.core.v1.TCPSocketActionArgs(port=REDIS_PORT)
        k8s.apps.v1.Deployment(
            f"{name}-redis",
            metadata=meta(redis_name, ns, redis_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # Two Redis pods would split the counters; the brief gap of a restart is
                # covered by the gateway's failureMode.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=redis_labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=nonroot_pod_security(args.platform, uid=REDIS_UID),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="redis",
                                image=args.redis_image,
                                # The password lives in the mounted file, not on the command line.
                                command=["redis-server", f"{REDIS_CONF_DIR}/redis.conf"],
                                ports=[k8s.core.v1.ContainerPortArgs(name="redis", container_port=REDIS_PORT)],
                                readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=tcp, period_seconds=5),
                                liveness_probe=k8s.core.v1.ProbeArgs(tcp_socket=tcp, period_seconds=10),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "128Mi"}
                                ),
                                security_context=hardened_container_security(read_only_root=True),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(name="config", mount_path=REDIS_CONF_DIR, read_only=True),
                                    k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=redis_name,
                                    items=[k8s.core.v1.KeyToPathArgs(key="redis.conf", path="redis.conf")],
                                ),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")
                            ),
                        ],
                    ),
                ),
            ),
            opts=child(self, depends_on=list(depends_on)),
        )
        return k8s.core.v1.Service(
            f"{name}-redis-service",
            metadata=meta(redis_name, ns, redis_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="redis", port=REDIS_PORT, target_port=REDIS_PORT)],
            ),
            opts=child(self),
        )

    def _rate_limit(
        self,
        name: str,
        args: RateLimitServiceArgs,
        service_name: str,
        service_labels: dict[str, str],
        selector: dict[str, str],
        redis_name: str,
        depends_on: Sequence[pulumi.Resource],
    ) -> k8s.apps.v1.Deployment:
        return k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(service_name, args.gateway.namespace, service_labels, scanner_exceptions(SERVICE_SCANNER_EXCEPTIONS)),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=surge_rollout(),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=service_labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=nonroot_pod_security(args.platform),
                        containers=[rate_limit_container(args.image, redis_name)],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=service_name)
                            )
                        ],
                    ),
                ),
            ),
            opts=child(self, depends_on=list(depends_on)),
        )


def rate_limit_env(redis_name: str) -> list[k8s.core.v1.EnvVarArgs]:
    """envoyproxy/ratelimit's settings (src/settings/settings.go): Redis over TCP, the limits from
    the mounted file, ready only once they are loaded, and the rate-limit headers."""
    env = {
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "USE_STATSD": "false",
        "REDIS_SOCKET_TYPE": "tcp",
        "REDIS_URL": f"{redis_name}:{REDIS_PORT}",
        "RUNTIME_ROOT": CONFIG_ROOT,
        "RUNTIME_SUBDIRECTORY": CONFIG_SUBDIRECTORY,
        "RUNTIME_APPDIRECTORY": "config",
        "RUNTIME_WATCH_ROOT": "false",
        "RUNTIME_IGNOREDOTFILES": "true",
        # Not ready until the limits are loaded, so no pod answers "no configuration".
        "HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED": "true",
        **RESPONSE_HEADERS,
    }
    password = k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=redis_name, key="password"))
    return [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()] + [
        k8s.core.v1.EnvVarArgs(name="REDIS_AUTH", value_from=password)
    ]


def rate_limit_container(image: str, redis_name: str) -> k8s.core.v1.ContainerArgs:
    http = k8s.core.v1.HTTPGetActionArgs(path="/healthcheck", port=HTTP_PORT)
    return k8s.core.v1.ContainerArgs(
        name="ratelimit",
        image=image,
        command=["/bin/ratelimit"],
        env=rate_limit_env(redis_name),
        ports=[
            k8s.core.v1.ContainerPortArgs(name="http", container_port=HTTP_PORT),
            k8s.core.v1.ContainerPortArgs(name="grpc", container_port=GRPC_PORT),
        ],
        # It retries Redis with backoff before it listens at all.
        startup_probe=k8s.core.v1.ProbeArgs(http_get=http, period_seconds=10, failure_threshold=30),
        readiness_probe=k8s.core.v1.ProbeArgs(http_get=http, period_seconds=5),
        liveness_probe=k8s.core.v1.ProbeArgs(http_get=http, period_seconds=10),
        resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "256Mi"}),
        security_context=hardened_container_security(read_only_root=True),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=f"{CONFIG_ROOT}/{CONFIG_SUBDIRECTORY}/config", read_only=True)
        ],
    )
