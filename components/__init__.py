"""Pulumi components that stand up a Model-as-a-Service endpoint from a validated catalog."""

from .addons.keda import Keda, KedaArgs
from .addons.lws_controller import LeaderWorkerSetController, LeaderWorkerSetControllerArgs
from .addons.monitoring_stack import MonitoringStack, MonitoringStackArgs
from .consumers.access import ConsumerAccess, ConsumerAccessArgs
from .consumers.rate_limit import RateLimitService, RateLimitServiceArgs
from .gateway.inference_gateway import (
    ROUTING_HEADER,
    GatewayParentRef,
    InferenceGateway,
    InferenceGatewayArgs,
)
from .gateway.model_list import ModelList, ModelListArgs
from .kube import kubernetes_target
from .model_service import ModelService, ModelServiceArgs
from .observability.observability import Observability, ObservabilityArgs
from .serving.autoscaling import ModelAutoscaling, ModelAutoscalingArgs
from .serving.model_pool import ModelPool, ModelPoolArgs
from .serving.model_server import ModelServer, ModelServerArgs
from .serving.multi_node import MultiNodeServer, MultiNodeServerArgs
from .serving.scheduling import PoolScheduling, PoolSchedulingArgs

__all__ = [
    "ROUTING_HEADER",
    "ConsumerAccess",
    "ConsumerAccessArgs",
    "GatewayParentRef",
    "InferenceGateway",
    "InferenceGatewayArgs",
    "Keda",
    "KedaArgs",
    "LeaderWorkerSetController",
    "LeaderWorkerSetControllerArgs",
    "ModelList",
    "ModelAutoscaling",
    "ModelAutoscalingArgs",
    "ModelListArgs",
    "ModelPool",
    "ModelPoolArgs",
    "ModelServer",
    "ModelServerArgs",
    "ModelService",
    "ModelServiceArgs",
    "MultiNodeServer",
    "MultiNodeServerArgs",
    "MonitoringStack",
    "MonitoringStackArgs",
    "PoolScheduling",
    "PoolSchedulingArgs",
    "Observability",
    "ObservabilityArgs",
    "RateLimitService",
    "RateLimitServiceArgs",
    "kubernetes_target",
]
