"""ModelService: the whole endpoint for one validated catalog: gateway, model list, consumers and
their budgets, and a pool and servers per model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import Config, Model
from llm_maas.models.spend import idle_teams

from .addons.lws_controller import LeaderWorkerSetController, LeaderWorkerSetControllerArgs
from .consumers.access import ConsumerAccess, ConsumerAccessArgs
from .consumers.spend import price_catalog, prices
from .gateway.inference_gateway import InferenceGateway, InferenceGatewayArgs
from .gateway.model_list import ModelList, ModelListArgs
from .kube import child, known, labels, meta
from .observability.observability import Observability, ObservabilityArgs, scraper_peer
from .serving.autoscaling import ModelAutoscaling, ModelAutoscalingArgs
from .serving.model_pool import ModelPool, ModelPoolArgs
from .serving.model_server import HF_TOKEN_KEY, ModelServer, ModelServerArgs
from .serving.multi_node import MultiNodeServer, MultiNodeServerArgs

HF_TOKEN_SECRET = "hf-token"
OPEN_GATEWAY_WARNING = (
    "maas:consumers is empty: the gateway serves every model to anyone who can reach it, with no "
    "API key and no budget. Declare consumers to require keys."
)
IDLE_TEAM_WARNING = "maas:teams entry {team!r} has no consumer (no consumer names it as its team): its budget is never spent."


@dataclass
class ModelServiceArgs:
    config: Config


class ModelService(pulumi.ComponentResource):
    url: pulumi.Output[str]
    served_names: pulumi.Output[list[str]]
    pools: pulumi.Output[dict[str, list[str]]]
    """Pool name -> the client-facing names it serves."""
    gpus: pulumi.Output[int]
    """GPUs at the configured replica counts (an autoscaled model at its `replicas`, else its minimum)."""
    gpus_at_min: pulumi.Output[int]
    gpus_at_max: pulumi.Output[int]
    """GPUs with every autoscaled model at its maximum: what the catalog may ever ask for."""
    api_keys: pulumi.Output[dict[str, str]]
    """Consumer -> API key, a Pulumi secret (empty when the gateway is open)."""
    rate_limit_config: pulumi.Output[str]
    """The budgets as envoyproxy/ratelimit configuration (load it into an external service)."""
    prices: pulumi.Output[dict[str, dict[str, str]]]
    """Served name -> its price per million tokens and the currency (priced models only)."""
    gateway: InferenceGateway

    def __init__(self, name: str, args: ModelServiceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:ModelService", name, None, opts)
        config = args.config
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=meta(config.namespace, None, labels("models", config.namespace)), opts=child(self)
        )
        # Taking the name from the Namespace's output makes every namespaced child wait for it.
        model_namespace = namespace.metadata.apply(lambda m: m.name)
        self.gateway = self._gateway(name, config)
        self.api_keys, self.rate_limit_config = self._consumers(name, config, model_namespace)
        self._models(name, config, model_namespace)
        self._observability(name, config, model_namespace)

        self.url = self.gateway.url
        self.served_names = self.gateway.served_names
        self.pools = known({m.pool_name: m.served_names for m in config.models})
        self.gpus = pulumi.Output.from_input(config.total_gpus)
        self.gpus_at_min = pulumi.Output.from_input(config.gpus_at_min)
        self.gpus_at_max = pulumi.Output.from_input(config.gpus_at_max)
        self.prices = known(prices(config.models, config.currency))
        self.register_outputs(
            {
                "url": self.url,
                "served_names": self.served_names,
                "pools": self.pools,
                "gpus": self.gpus,
                "gpus_at_min": self.gpus_at_min,
                "gpus_at_max": self.gpus_at_max,
                "api_keys": self.api_keys,
                "rate_limit_config": self.rate_limit_config,
                "prices": self.prices,
            }
        )

    def _gateway(self, name: str, config: Config) -> InferenceGateway:
        """The gateway with its CRDs and routing, and the model list it serves."""
        gateway = InferenceGateway(
            f"{name}-gateway",
            InferenceGatewayArgs(
                gateway=config.gateway,
                versions=config.versions,
                platform=config.platform,
                install_gateway_api_crds=config.gateway_api_crds == "install",
                protect_crds=config.protect_crds,
                route_namespaces=[config.namespace],
                served_names=config.served_names,
                request_timeout_seconds=config.longest_request_timeout_seconds,
                price_catalog=price_catalog(config.models),
            ),
            opts=child(self),
        )
        ModelList(
            f"{name}-model-list",
            ModelListArgs(
                served_names=config.served_names,
                parent_ref=gateway.parent_ref,
                image=config.versions.model_list_image,
                crds=gateway.crds,
                platform=config.platform,
                network_policies=config.network_policies,
                filter_by_consumer=bool(config.consumers),
            ),
            opts=child(self),
        )
        return gateway

    def _consumers(
        self, name: str, config: Config, namespace: pulumi.Output[str]
    ) -> tuple[pulumi.Output[dict[str, str]], pulumi.Output[str]]:
        """Keys, access and budgets, or an open gateway (and a warning): the keys and budgets."""
        for team in idle_teams(config.teams, config.consumers):
            pulumi.log.warn(IDLE_TEAM_WARNING.format(team=team), resource=self)
        if not config.consumers:
            pulumi.log.warn(OPEN_GATEWAY_WARNING, resource=self)
            return pulumi.Output.secret({}), pulumi.Output.from_input("")
        access = ConsumerAccess(
            f"{name}-consumers",
            ConsumerAccessArgs(
                consumers=config.consumers,
                teams=config.teams,
                gateway=self.gateway,
                namespace=config.namespace,
                model_namespace=namespace,
                rate_limit=config.rate_limit,
                versions=config.versions,
                platform=config.platform,
                network_policies=config.network_policies,
            ),
            opts=child(self),
        )
        return access.api_keys, access.rate_limit_config

    def _models(self, name: str, config: Config, namespace: pulumi.Output[str]) -> None:
        """Each model's servers and pool."""
        token_secret = self._hf_token_secret(name, config, namespace)
        lws_controller = self._leader_worker_set_controller(name, config)
        for model in config.models:
            self._servers(name, config, model, namespace, token_secret, lws_controller)
            ModelPool(
                f"{name}-{model.pool_name}",
                ModelPoolArgs(
                    model=model,
                    namespace=namespace,
                    parent_ref=self.gateway.parent_ref,
                    epp=config.epp,
                    epp_image=config.versions.epp_image,
                    tiers=config.tiers,
                    crds=self.gateway.crds,
                    platform=config.platform,
                    network_policies=config.network_policies,
                    scraper=scraper_peer(config.monitoring),
                ),
                opts=child(self),
            )

    def _observability(self, name: str, config: Config, namespace: pulumi.Output[str]) -> None:
        """What is scraped and shown, and what scales on it."""
        if config.monitoring.enabled:
            Observability(
                f"{name}-observability",
                ObservabilityArgs(
                    monitoring=config.monitoring,
                    versions=config.versions,
                    namespace=config.namespace,
                    model_namespace=namespace,
                    gateway=self.gateway.parent_ref,
                    gateway_namespace=self.gateway.namespace,
                    consumers=bool(config.consumers),
                    keda_namespace=config.autoscaling.namespace,
                ),
                opts=child(self),
            )
        autoscaled = [workload for workload in config.workloads if workload.autoscaling]
        if autoscaled:
            ModelAutoscaling(
                f"{name}-autoscaling",
                ModelAutoscalingArgs(
                    models=autoscaled,
                    namespace=config.namespace,
                    model_namespace=namespace,
                    autoscaling=config.autoscaling,
                    versions=config.versions,
                ),
                opts=child(self),
            )

    def _servers(
        self,
        name: str,
        config: Config,
        model: Model,
        namespace: pulumi.Output[str],
        token_secret: Optional[pulumi.Output[str]],
        lws_controller: list[pulumi.Resource],
    ) -> None:
        """The model's server pods: a Deployment, or a LeaderWorkerSet across nodes; and a
        disaggregated model's prefill pods beside them."""
        token = token_secret if model.server == "vllm" else None
        if model.multi_node:
            MultiNodeServer(
                f"{name}-{model.pool_name}-server",
                MultiNodeServerArgs(
                    model=model,
                    namespace=namespace,
                    hf_token_secret=token,
                    platform=config.platform,
                    network_policies=config.network_policies,
                    controller=lws_controller,
                ),
                opts=child(self),
            )
            return
        for workload in model.workloads:
            ModelServer(
                f"{name}-{workload.server_name}",
                ModelServerArgs(
                    model=workload,
                    namespace=namespace,
                    hf_token_secret=token,
                    platform=config.platform,
                    sidecar_image=config.versions.disagg_sidecar_image,
                ),
                opts=child(self),
            )

    def _leader_worker_set_controller(self, name: str, config: Config) -> list[pulumi.Resource]:
        if not config.leader_worker_set.install:
            return []
        controller = LeaderWorkerSetController(
            f"{name}-leader-worker-set",
            LeaderWorkerSetControllerArgs(
                controller=config.leader_worker_set, versions=config.versions, network_policies=config.network_policies
            ),
            opts=child(self),
        )
        return [controller.chart]

    def _hf_token_secret(
        self, name: str, config: Config, namespace: pulumi.Output[str]
    ) -> Optional[pulumi.Output[str]]:
        if not any(m.server == "vllm" for m in config.models):
            return None
        if config.hf_token_secret is not None:
            return pulumi.Output.from_input(config.hf_token_secret)
        if config.hf_token is None:
            return None
        secret = k8s.core.v1.Secret(
            f"{name}-hf-token",
            metadata=meta(HF_TOKEN_SECRET, namespace, labels("credentials", HF_TOKEN_SECRET)),
            type="Opaque",
            string_data={HF_TOKEN_KEY: pulumi.Output.secret(config.hf_token.get_secret_value())},
            opts=child(self),
        )
        return secret.metadata.apply(lambda m: m.name)
