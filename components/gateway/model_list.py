"""ModelList: `GET /v1/models` at the gateway, the OpenAI model list of every served name.

agentgateway has no listing on the HTTPRoute path, a `directResponse` body is capped at 4 KiB
and a CEL expression at 16 KiB, so the list is a file served by a small unprivileged nginx
from a ConfigMap: about 90 bytes a name, so 1,000 names are ~90 KB. nginx reads the file on
every request and kubelet swaps a ConfigMap volume's files in place, so a catalog change edits
the ConfigMap alone and no pod restarts.

With consumers, a response transformation on the listing route filters the list by the
caller's key metadata (`apiKey.models`): a constant expression, so the list each consumer sees
follows the catalog and the keys without editing this component.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models.listing import model_list_document
from llm_maas.models.names import MODEL_LIST, gateway_object

from ..kube import (
    AGENTGATEWAY_POLICY,
    HTTP_ROUTE,
    admit_ingress,
    child,
    custom_resource,
    data_plane_peer,
    hardened_container_security,
    labels,
    meta,
    nonroot_pod_security,
    one_at_a_time_budget,
    scratch_volume,
    selector_of,
    surge_rollout,
    target_ref,
)
from .inference_gateway import GatewayParentRef

MODEL_LIST_PATH = "/v1/models"
# The key metadata field (`apiKey.<field>` in CEL) listing the names a consumer may call.
KEY_MODELS_FIELD = "models"
LIST_PORT = 8080  # nginx-unprivileged listens here, unprivileged
LIST_DIR = "/srv/models"
LIST_FILE = "models.json"
CONF_DIR = "/etc/nginx/conf.d"
HEALTH_PATH = "/healthz"
REPLICAS = 2
# nginx-unprivileged runs under any UID (built for OpenShift's arbitrary UIDs: it writes only to
# /tmp, mounted here); one of 10000 or more never matches a user of the node, where its own 101
# could (checkov CKV_K8S_40).
NGINX_UID = 10101

# Response-phase CEL sees the request's `apiKey` (agentgateway RequestSnapshot) and the buffered
# body; a body expression that yields a map is sent as JSON. Unrestricted consumers get the body
# untouched, and so does any non-200 answer. A failed expression would send an empty body
# (http/transformation_cel.rs apply_response at v1.4.1), so the filter parses only what it can:
# the listing location answers a GET with the whole file or not at all. `max_ranges 0` ignores
# Range (a 206 slice is neither parseable nor filtered, so it would also show names the key may
# not call), `etag off` and `if_modified_since off` ignore conditional requests (no bodiless
# 304), `gzip off` keeps the body plain whatever the image's nginx.conf says; and the document
# fits the 2 MiB buffer (models/listing.py).
FILTER_EXPRESSION = (
    f"has(apiKey.{KEY_MODELS_FIELD}) && response.code == 200 ? "
    f'{{"object": "list", "data": json(response.body).data.filter(m, m.id in apiKey.{KEY_MODELS_FIELD})}} '
    ": response.body"
)

_NOT_FOUND = json.dumps(
    {"error": {"message": "Not found.", "type": "invalid_request_error", "code": "not_found"}}
)
NGINX_CONF = f"""server {{
    listen {LIST_PORT};
    access_log /dev/stdout;
    location = {MODEL_LIST_PATH} {{
        types {{ }}
        default_type application/json;
        alias {LIST_DIR}/{LIST_FILE};
        max_ranges 0;
        etag off;
        if_modified_since off;
        gzip off;
    }}
    location = {HEALTH_PATH} {{
        access_log off;
        default_type text/plain;
        return 200 "ok\\n";
    }}
    location / {{
        default_type application/json;
        return 404 '{_NOT_FOUND}';
    }}
}}
"""


@dataclass
class ModelListArgs:
    served_names: Sequence[str]
    parent_ref: GatewayParentRef
    image: str
    crds: Sequence[pulumi.Resource] = ()
    """CRD installs the HTTPRoute and policy wait for."""
    platform: str = "kubernetes"
    network_policies: bool = True
    filter_by_consumer: bool = False
    """API keys are on: show each caller only the names its key may call."""


class ModelList(pulumi.ComponentResource):
    service_name: pulumi.Output[str]

    def __init__(self, name: str, args: ModelListArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:ModelList", name, None, opts)
        gw = args.parent_ref
        object_name = gateway_object(gw.name, MODEL_LIST)
        object_labels = labels("model-list", object_name)
        selector = selector_of(object_labels)
        files = self._files(name, args, object_name, object_labels)
        deployment = self._server(name, args, object_name, object_labels, files)
        one_at_a_time_budget(self, f"{name}-disruption-budget", meta(object_name, gw.namespace, object_labels), selector)
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(object_name, gw.namespace, object_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=LIST_PORT, target_port=LIST_PORT)],
            ),
            opts=child(self, depends_on=[deployment]),
        )
        self._route(name, args, object_name, object_labels, service)
        if args.network_policies:
            admit_ingress(self, f"{name}-ingress", object_name, gw.namespace, selector, [([data_plane_peer(gw)], LIST_PORT)])
        self.service_name = service.metadata.apply(lambda m: m.name)
        self.register_outputs({"service_name": self.service_name})

    def _files(self, name: str, args: ModelListArgs, object_name: str, object_labels: dict) -> list[pulumi.Resource]:
        """The list itself, and nginx's server config."""
        ns = args.parent_ref.namespace
        listing = k8s.core.v1.ConfigMap(
            f"{name}-list",
            metadata=meta(object_name, ns, object_labels),
            data={LIST_FILE: model_list_document(args.served_names)},
            opts=child(self),
        )
        server_conf = k8s.core.v1.ConfigMap(
            f"{name}-server-config",
            metadata=meta(f"{object_name}-server", ns, object_labels),
            data={"default.conf": NGINX_CONF},
            opts=child(self),
        )
        return [listing, server_conf]

    def _server(
        self, name: str, args: ModelListArgs, object_name: str, object_labels: dict, files: list[pulumi.Resource]
    ) -> pulumi.Resource:
        return k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata=meta(object_name, args.parent_ref.namespace, object_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=REPLICAS,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_of(object_labels)),
                strategy=surge_rollout(),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=object_labels,
                        # nginx reads its server config once; the list itself is read per request.
                        annotations={"maas.llm-d.ai/config-sha256": hashlib.sha256(NGINX_CONF.encode()).hexdigest()},
                    ),
                    spec=self._pod(args, object_name),
                ),
            ),
            opts=child(self, depends_on=files),
        )

    def _route(self, name: str, args: ModelListArgs, object_name: str, object_labels: dict, service: pulumi.Resource) -> None:
        """`GET /v1/models` to the list, filtered per key when consumers exist."""
        gw = args.parent_ref
        route = custom_resource(
            self,
            f"{name}-route",
            HTTP_ROUTE,
            meta(object_name, gw.namespace, object_labels),
            {
                "parentRefs": [gw.as_spec()],
                "rules": [
                    {
                        "name": "model-list",
                        # An exact path outranks every model route's `/v1/` prefix.
                        "matches": [{"path": {"type": "Exact", "value": MODEL_LIST_PATH}, "method": "GET"}],
                        "backendRefs": [{"name": object_name, "port": LIST_PORT}],
                    }
                ],
            },
            [*args.crds, service],
        )
        if args.filter_by_consumer:
            custom_resource(
                self,
                f"{name}-consumer-filter",
                AGENTGATEWAY_POLICY,
                meta(object_name, gw.namespace, object_labels),
                {
                    "targetRefs": [target_ref(HTTP_ROUTE, object_name)],
                    "traffic": {"transformation": {"response": {"body": FILTER_EXPRESSION}}},
                },
                [*args.crds, route],
            )

    @staticmethod
    def _pod(args: ModelListArgs, object_name: str) -> k8s.core.v1.PodSpecArgs:
        http = k8s.core.v1.HTTPGetActionArgs(path=HEALTH_PATH, port=LIST_PORT)
        tmp_volume, tmp_mount = scratch_volume("16Mi")
        return k8s.core.v1.PodSpecArgs(
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=nonroot_pod_security(args.platform, uid=NGINX_UID),
            containers=[
                k8s.core.v1.ContainerArgs(
                    name="nginx",
                    image=args.image,
                    # Straight to nginx: the image's entrypoint scripts would try to edit conf.d.
                    command=["nginx", "-g", "daemon off;"],
                    ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=LIST_PORT)],
                    readiness_probe=k8s.core.v1.ProbeArgs(http_get=http, period_seconds=5),
                    liveness_probe=k8s.core.v1.ProbeArgs(http_get=http, period_seconds=10),
                    resources=k8s.core.v1.ResourceRequirementsArgs(
                        requests={"cpu": "10m", "memory": "16Mi"}, limits={"memory": "64Mi"}
                    ),
                    security_context=hardened_container_security(read_only_root=True),
                    volume_mounts=[
                        k8s.core.v1.VolumeMountArgs(name="list", mount_path=LIST_DIR, read_only=True),
                        k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONF_DIR, read_only=True),
                        # The image keeps its pid file and temp paths under /tmp.
                        tmp_mount,
                    ],
                )
            ],
            volumes=[
                k8s.core.v1.VolumeArgs(name="list", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=object_name)),
                k8s.core.v1.VolumeArgs(
                    name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=f"{object_name}-server")
                ),
                tmp_volume,
            ],
        )
