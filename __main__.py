"""maas: read the `maas:` stack config, build the endpoint, export what clients need."""

import pulumi

from llm_maas.components import ModelService, ModelServiceArgs, kubernetes_target
from llm_maas.models import ConfigError, load_stack_config

try:
    config = load_stack_config()
except ConfigError as error:
    # A clean message with the key paths, not a stack trace; nothing has been registered.
    raise pulumi.RunError(str(error)) from None

service = ModelService("maas", ModelServiceArgs(config), kubernetes_target("maas", config.render_yaml_to))
pulumi.export("url", service.url)
pulumi.export("servedNames", service.served_names)
pulumi.export("pools", service.pools)
pulumi.export("gpus", service.gpus)
pulumi.export("gpusAtMin", service.gpus_at_min)
pulumi.export("gpusAtMax", service.gpus_at_max)
# Secret: `pulumi stack output apiKeys --show-secrets` hands each consumer its key.
pulumi.export("apiKeys", service.api_keys)
pulumi.export("rateLimitConfig", service.rate_limit_config)
pulumi.export("prices", service.prices)
