"""Typed, validated `maas:` stack config: the single source of truth for every resource."""

from .catalog import Adapter, Model, Toleration
from .config import Config, Epp, Gateway, LeaderWorkerSetController, Route, Versions
from .consumers import Consumer, RateLimit, RateLimitService
from .disaggregation import Prefill
from .errors import ConfigError, Violation
from .loader import load_catalog, load_config, load_stack_config, read_stack_files
from .names import DECODE, POOL_LABEL, PREFILL, ROLE_LABEL, derive_pool_name, objective_name, pool_selector
from .scaling import Autoscaling, ModelAutoscaling, Monitoring, Scraper
from .spend import Price, Team
from .tiers import Tier, priority_bands
from .types import Resources

__all__ = [
    "Adapter",
    "Autoscaling",
    "ModelAutoscaling",
    "Monitoring",
    "Scraper",
    "Tier",
    "Team",
    "Price",
    "Config",
    "Consumer",
    "ConfigError",
    "DECODE",
    "PREFILL",
    "ROLE_LABEL",
    "Epp",
    "Gateway",
    "LeaderWorkerSetController",
    "Model",
    "POOL_LABEL",
    "Prefill",
    "RateLimit",
    "RateLimitService",
    "Resources",
    "Route",
    "Toleration",
    "Versions",
    "Violation",
    "derive_pool_name",
    "load_catalog",
    "load_config",
    "load_stack_config",
    "objective_name",
    "pool_selector",
    "priority_bands",
    "read_stack_files",
]
