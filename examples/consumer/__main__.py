"""A team's own Pulumi project built from llm_maas components: its own Kubernetes provider, its
own catalog as a plain dict, its own exports. Run `pulumi config set kubeconfig <path>` first."""

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.components import ModelService, ModelServiceArgs
from llm_maas.models import ConfigError, load_catalog

CATALOG = {
    "namespace": "support-models",
    "gateway": {"name": "support-gateway", "namespace": "support-gateway", "serviceType": "ClusterIP"},
    "models": [
        {"name": "Qwen/Qwen3-0.6B", "server": "simulator", "replicas": 2, "adapters": ["ticket-triage"]},
    ],
    "consumers": [{"name": "helpdesk", "requestsPerMinute": 120}],
}

try:
    catalog = load_catalog(CATALOG)
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

cluster = k8s.Provider("support-cluster", kubeconfig=pulumi.Config().require("kubeconfig"))
# The provider and `protect` flow to every object under the component.
support = ModelService("support", ModelServiceArgs(catalog), pulumi.ResourceOptions(provider=cluster, protect=True))

pulumi.export("endpoint", support.url)
pulumi.export("models", support.served_names)
pulumi.export("helpdeskKey", support.api_keys.apply(lambda keys: keys["helpdesk"]))
