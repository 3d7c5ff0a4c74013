"""Pulumi components that stand up a Model-as-a-Service endpoint from a validated catalog."""

from .autoscaling import ModelAutoscaling, ModelAutoscalingArgs
from .consumers import ConsumerAccess, ConsumerAccessArgs
from .inference_gateway import (
    ROUTING_HEADER,
    GatewayParentRef,
    InferenceGateway,
    InferenceGatewayArgs,
)
from .keda import Keda, KedaArgs
from .kube import kubernetes_target
from .lws_controller import LeaderWorkerSetController, LeaderWorkerSetControllerArgs
from .model_list import ModelList, ModelListArgs
from .model_pool import ModelPool, ModelPoolArgs
from .model_server import ModelServer, ModelServerArgs
from .model_service import ModelService, ModelServiceArgs
from .multi_node import MultiNodeServer, MultiNodeServerArgs
from .monitoring_stack import MonitoringStack, MonitoringStackArgs
from .observability import Observability, ObservabilityArgs
from .rate_limit import RateLimitService, RateLimitServiceArgs
from .scheduling import PoolScheduling, PoolSchedulingArgs

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
