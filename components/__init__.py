"""Pulumi components that stand up a Model-as-a-Service endpoint from a validated catalog."""

from .consumers import ConsumerAccess, ConsumerAccessArgs
from .inference_gateway import (
    ROUTING_HEADER,
    GatewayParentRef,
    InferenceGateway,
    InferenceGatewayArgs,
)
from .model_list import ModelList, ModelListArgs
from .model_pool import ModelPool, ModelPoolArgs
from .model_server import ModelServer, ModelServerArgs
from .model_service import ModelService, ModelServiceArgs
from .rate_limit import RateLimitService, RateLimitServiceArgs

__all__ = [
    "ROUTING_HEADER",
    "ConsumerAccess",
    "ConsumerAccessArgs",
    "GatewayParentRef",
    "InferenceGateway",
    "InferenceGatewayArgs",
    "ModelList",
    "ModelListArgs",
    "ModelPool",
    "ModelPoolArgs",
    "ModelServer",
    "ModelServerArgs",
    "ModelService",
    "ModelServiceArgs",
    "RateLimitService",
    "RateLimitServiceArgs",
]
