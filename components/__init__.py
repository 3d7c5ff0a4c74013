"""Pulumi components that stand up a Model-as-a-Service endpoint from a validated catalog."""

from .inference_gateway import (
    ROUTING_HEADER,
    GatewayParentRef,
    InferenceGateway,
    InferenceGatewayArgs,
)
from .model_pool import ModelPool, ModelPoolArgs
from .model_server import ModelServer, ModelServerArgs
from .model_service import ModelService, ModelServiceArgs

__all__ = [
    "ROUTING_HEADER",
    "GatewayParentRef",
    "InferenceGateway",
    "InferenceGatewayArgs",
    "ModelPool",
    "ModelPoolArgs",
    "ModelServer",
    "ModelServerArgs",
    "ModelService",
    "ModelServiceArgs",
]
