"""InferenceGateway: the CRDs, the agentgateway control plane, one Gateway and its routing policy.

The routing contract: a single PreRouting policy copies the body's `model` into ROUTING_HEADER
before route selection, and each ModelPool's HTTPRoute matches its own names on that header.
The policy never lists models, so it stays one constant-size CEL expression however large the
catalog grows (agentgateway caps an expression at 16,384 characters and applies only one
transformation policy per Gateway), and adding a model never edits a shared object.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from llm_maas.models import Gateway, Versions

from ..consumers.spend import model_catalog_source, price_catalog, price_catalog_config_map
from ..kube import (
    AGENTGATEWAY_GROUP,
    AGENTGATEWAY_PARAMETERS,
    AGENTGATEWAY_POLICY,
    GATEWAY,
    GATEWAY_API_GROUP,
    HTTP_ROUTE,
    OPENSHIFT_ROUTE,
    Kind,
    child,
    custom_resource,
    known,
    labels,
    meta,
    retain_crds,
    target_ref,
)

ROUTING_HEADER = "X-Gateway-Model-Name"
# A body that is not JSON, has no `model`, or a `model` that is not a scalar makes this fail;
# agentgateway then removes the header, so a client can never steer with its own header value.
ROUTING_EXPRESSION = "string(json(request.body).model)"
LISTENER_NAME = "http"
OPENSHIFT_NONROOT_SCC = "system:openshift:scc:nonroot-v2"

MODEL_NOT_FOUND_BODY = json.dumps(
    {
        "error": {
            "message": "The requested model does not exist or is not served by this gateway. "
            "Send a JSON body whose `model` is one of the served model names.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
)


@dataclass
class GatewayParentRef:
    """Where a model's HTTPRoute attaches: the Gateway's listener, possibly in another namespace."""

    name: str
    namespace: str
    section_name: str = LISTENER_NAME

    def as_spec(self) -> dict:
        return {
            "group": GATEWAY_API_GROUP,
            "kind": "Gateway",
            "name": self.name,
            "namespace": self.namespace,
            "sectionName": self.section_name,
        }


@dataclass
class InferenceGatewayArgs:
    gateway: Gateway
    versions: Versions
    platform: str = "kubernetes"
    install_gateway_api_crds: bool = True
    protect_crds: bool = False
    route_namespaces: Sequence[str] = field(default_factory=list)
    """Namespaces (besides the gateway's own) whose HTTPRoutes the listener accepts."""
    served_names: Sequence[str] = field(default_factory=list)
    """Client-facing model names, exported so users see what the endpoint serves."""
    request_timeout_seconds: float = 300
    """The longest request any model allows (the OpenShift Route must not cut it short)."""
    price_catalog: str = field(default_factory=lambda: price_catalog([]))
    """agentgateway's model cost catalog (components/spend.py): what the data plane prices calls by."""


def parameters_name(gateway: str) -> str:
    return f"{gateway}-parameters"


def gateway_spec(args: InferenceGatewayArgs, parameters: str) -> dict:
    """The Gateway: its class, its parameters, and one HTTP listener that takes HTTPRoutes from
    the gateway's and the models' namespaces only."""
    gw = args.gateway
    namespaces = sorted({gw.namespace, *args.route_namespaces})
    return {
        "gatewayClassName": gw.class_name,
        "infrastructure": {"parametersRef": {"group": AGENTGATEWAY_GROUP, "kind": "AgentgatewayParameters", "name": parameters}},
        "listeners": [
            {
                "name": LISTENER_NAME,
                "protocol": "HTTP",
                "port": gw.listener_port,
                "allowedRoutes": {
                    "kinds": [{"group": GATEWAY_API_GROUP, "kind": "HTTPRoute"}],
                    "namespaces": {
                        "from": "Selector",
                        "selector": {
                            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]
                        },
                    },
                },
            }
        ],
    }


def routing_policy_spec(gateway_target: dict) -> dict:
    """PreRouting on the Gateway: the requested model, from the body, into the routing header."""
    return {
        "targetRefs": [gateway_target],
        "traffic": {
            "phase": "PreRouting",
            "transformation": {"request": {"set": [{"name": ROUTING_HEADER, "value": ROUTING_EXPRESSION}]}},
        },
    }


class InferenceGateway(pulumi.ComponentResource):
    url: pulumi.Output[str]
    served_names: pulumi.Output[list[str]]
    parent_ref: GatewayParentRef
    target: dict[str, str]
    """The Gateway as a policy's targetRef (policies in the gateway namespace)."""
    crds: list[pulumi.Resource]
    """CRD installs that every custom resource of the stack must wait for."""
    namespace: pulumi.Output[str]
    """The gateway namespace, known once it exists."""

    def __init__(self, name: str, args: InferenceGatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("maas:index:InferenceGateway", name, None, opts)
        gw = args.gateway
        self.parent_ref = GatewayParentRef(gw.name, gw.namespace)
        self.target = target_ref(GATEWAY, gw.name)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=meta(gw.namespace, None, labels("gateway", gw.name)), opts=child(self)
        )
        self.namespace = namespace.metadata.apply(lambda m: m.name)
        self.crds = self._install_crds(name, args)
        control_plane = self._control_plane(name, args, namespace)
        parameters = self._parameters(name, args, namespace)
        self._custom(
            f"{name}-gateway", GATEWAY, gw.name, gw.namespace,
            gateway_spec(args, parameters_name(gw.name)), [namespace, control_plane, parameters],
            # agentgateway marks a Gateway Programmed once its config translates, with or without
            # a load-balancer address, so this wait cannot hang on clusters like kind.
            annotations={"pulumi.com/waitFor": "condition=Programmed"},
        )  # fmt: skip
        self._custom(
            f"{name}-model-routing", AGENTGATEWAY_POLICY, f"{gw.name}-model-routing", gw.namespace,
            routing_policy_spec(self.target), [namespace],
        )  # fmt: skip
        self._model_not_found(name, args, [namespace])
        self._outputs(name, args, namespace)

    def _control_plane(self, name: str, args: InferenceGatewayArgs, namespace: pulumi.Resource) -> pulumi.Resource:
        return k8s.helm.v4.Chart(
            f"{name}-agentgateway",
            chart=args.versions.agentgateway_chart("agentgateway"),
            version=args.versions.agentgateway,
            namespace=args.gateway.namespace,
            values={"inferenceExtension": {"enabled": True}, "gatewayClassName": args.gateway.class_name},
            opts=child(self, depends_on=[namespace, *self.crds]),
        )

    def _parameters(self, name: str, args: InferenceGatewayArgs, namespace: pulumi.Resource) -> pulumi.Resource:
        """The Gateway's own AgentgatewayParameters: its Service type and the price catalog it
        mounts (which must exist before the data plane starts)."""
        gw = args.gateway
        prices = price_catalog_config_map(self, f"{name}-prices", gw.name, gw.namespace, args.price_catalog, [namespace])
        return self._custom(
            f"{name}-parameters", AGENTGATEWAY_PARAMETERS, parameters_name(gw.name), gw.namespace,
            {"service": {"spec": {"type": gw.service_type}}, "modelCatalog": model_catalog_source(gw.name)},
            [namespace, prices],
        )  # fmt: skip

    def _outputs(self, name: str, args: InferenceGatewayArgs, namespace: pulumi.Resource) -> None:
        gw = args.gateway
        port = gw.listener_port
        host = self._openshift(name, args, [namespace]) if args.platform == "openshift" else None
        cluster_url = f"http://{gw.name}.{gw.namespace}.svc.cluster.local" + ("" if port == 80 else f":{port}")
        self.url = pulumi.Output.from_input(host).apply(lambda h: f"https://{h}" if h else cluster_url)
        self.served_names = known(list(args.served_names))
        self.register_outputs({"url": self.url, "served_names": self.served_names})

    def _install_crds(self, name: str, args: InferenceGatewayArgs) -> list[pulumi.Resource]:
        versions = args.versions
        # CRDs are cluster-wide and shared by every stack: deleting one deletes every object of
        # its kind on the cluster, so a `pulumi destroy` leaves them in place. `protect` is only
        # ever added: False would override a protect inherited from the parent.
        keep = child(
            self, retain_on_delete=True, protect=True if args.protect_crds else None, transforms=[retain_crds]
        )
        crds: list[pulumi.Resource] = []
        if args.install_gateway_api_crds:
            crds.append(
                k8s.yaml.v2.ConfigFile(
                    f"{name}-gateway-api-crds", file=versions.gateway_api_crds_url, opts=keep
                )
            )
        crds.append(
            k8s.yaml.v2.ConfigFile(
                f"{name}-inference-extension-crds",
                file=versions.inference_extension_crds_url,
                opts=keep,
            )
        )
        # InferenceObjective and InferenceModelRewrite (llm-d.ai) moved to the llm-d router with
        # the endpoint picker; installed on OpenShift too, which ships neither.
        crds.append(
            k8s.yaml.v2.ConfigGroup(f"{name}-llm-d-router-crds", files=versions.llmd_router_crd_urls, opts=keep)
        )
        crds.append(
            k8s.helm.v4.Chart(
                f"{name}-agentgateway-crds",
                chart=versions.agentgateway_chart("agentgateway-crds"),
                version=versions.agentgateway,
                namespace=args.gateway.namespace,
                opts=keep,
            )
        )
        return crds

    def _custom(
        self,
        resource_name: str,
        kind: Kind,
        object_name: str,
        namespace: str,
        spec: dict,
        depends_on: list[pulumi.Resource],
        annotations: Optional[dict[str, str]] = None,
    ) -> k8s.apiextensions.CustomResource:
        return custom_resource(
            self,
            resource_name,
            kind,
            meta(object_name, namespace, labels("gateway", self.parent_ref.name), annotations),
            spec,
            [*depends_on, *self.crds],
        )

    def _model_not_found(self, name: str, args: InferenceGatewayArgs, depends_on: list[pulumi.Resource]) -> None:
        """Every request no model route claims (unknown or missing model, non-JSON body) lands
        on this backend-less rule and gets an OpenAI-style JSON 404 instead of a plain-text one.
        Model routes win over it because they match a longer path prefix and a header."""
        gw = args.gateway
        route_name = f"{gw.name}-model-not-found"
        self._custom(
            f"{name}-model-not-found-route",
            HTTP_ROUTE,
            route_name,
            gw.namespace,
            {
                "parentRefs": [self.parent_ref.as_spec()],
                "rules": [{"name": "model-not-found", "matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}],
            },
            depends_on,
        )
        self._custom(
            f"{name}-model-not-found",
            AGENTGATEWAY_POLICY,
            route_name,
            gw.namespace,
            {
                "targetRefs": [target_ref(HTTP_ROUTE, route_name)],
                "traffic": {
                    "directResponse": {
                        "status": 404,
                        "body": MODEL_NOT_FOUND_BODY,
                        "headers": [{"name": "content-type", "value": "'application/json'"}],
                    }
                },
            },
            depends_on,
        )

    def _openshift(
        self, name: str, args: InferenceGatewayArgs, depends_on: list[pulumi.Resource]
    ) -> Optional[pulumi.Output[str]]:
        """The SCC binding, and the Route whose host becomes the gateway URL."""
        gw = args.gateway
        # The data plane runs as a fixed non-root UID that restricted-v2 rejects.
        k8s.rbac.v1.RoleBinding(
            f"{name}-scc",
            metadata=meta(f"{gw.name}-scc-nonroot-v2", gw.namespace, labels("gateway", gw.name)),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=OPENSHIFT_NONROOT_SCC
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=gw.name, namespace=gw.namespace)],
            opts=child(self, depends_on=depends_on),
        )
        if gw.route is None or not gw.route.enabled:
            return None
        route_spec: dict = {
            "to": {"kind": "Service", "name": gw.name, "weight": 100},
            "port": {"targetPort": gw.listener_port},
            "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"},
        }
        if gw.route.host:
            route_spec["host"] = gw.route.host
        route = custom_resource(
            self,
            f"{name}-route",
            OPENSHIFT_ROUTE,
            meta(
                gw.name,
                gw.namespace,
                labels("gateway", gw.name),
                # Streaming completions outlive the router's 30 s default: the longest any
                # model allows (haproxy reads whole seconds with a unit).
                {"haproxy.router.openshift.io/timeout": f"{math.ceil(args.request_timeout_seconds)}s"},
            ),
            route_spec,
            depends_on,
        )
        return route.spec.apply(lambda spec: (spec or {}).get("host"))
