"""How the two workloads of a disaggregated model start (a model with `prefill`).

From the llm-d router v0.10.0 (docs/disaggregation.md, deploy/components/vllm-decode and
vllm-prefill, cmd/pd-sidecar, pkg/sidecar/proxy/options.go):
- the pool's picker picks a decode pod and, when its decider says so, a prefill pod, whose
  address it sends as `x-prefiller-host-port` = the pod's IP and the pool's target port
  (disagg_profile_handler.go): so prefill pods serve vLLM on that port themselves;
- a decode pod's routing sidecar listens on the pool's port, sends the prompt to that prefill pod
  (max_tokens 1), then the request with the KV-transfer parameters it got back to its own vLLM,
  which listens behind it (upstream's layout: 8000 in front, 8200 behind). The sidecar serves TLS
  unless told not to; the gateway calls pods in plain HTTP;
- vLLM moves the KV cache with the NixlConnector (vLLM v0.19.1 vllm/config/kv_transfer.py;
  kv_role is required and both roles use kv_both). Each engine binds its NIXL side channel on
  VLLM_NIXL_SIDE_CHANNEL_HOST:PORT (default localhost:5600, + its data-parallel rank: one port
  here) and advertises that address to the decode pod that reads from it
  (distributed/kv_transfer/kv_connector/v1/nixl_connector.py): so the host is the pod's own IP.
  The decode pod connects there, then pulls the blocks over UCX connections on ports UCX picks.
- llm-d-inference-sim v0.8.2 plays both roles with no flag of its own: it reads the request's
  `kv_transfer_params`, answers a prefill request (`do_remote_decode`) with transfer parameters
  and times a remote-prefilled decode by its `--kv-cache-transfer-*` settings
  (pkg/openai-server-api/request.go, response.go, latencies.go). It refuses vLLM's
  `--kv-transfer-config`, so it gets none.
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi_kubernetes as k8s

from llm_maas.models import DECODE, Model

from ..kube import MODEL_SERVER_PORT, downward_env, hardened_container_security

# Where vLLM listens behind a decode pod's sidecar (upstream's deploy/components/vllm-decode).
ENGINE_PORT = 8200
ENGINE_PORT_NAME = "engine"
NIXL_SIDE_CHANNEL_PORT = 5600
KV_TRANSFER_CONFIG = json.dumps({"kv_connector": "NixlConnector", "kv_role": "kv_both"})
SIDECAR_CONNECTOR = "nixlv2"


def serving_port(model: Model) -> int:
    """The port a workload's model server listens on: behind the sidecar on decode pods, the
    pool's own port everywhere else."""
    return ENGINE_PORT if model.role == DECODE else MODEL_SERVER_PORT


def kv_transfer_args(model: Model) -> list[str]:
    """vLLM's KV-transfer flags for either role of a disaggregated model."""
    return ["--kv-transfer-config", KV_TRANSFER_CONFIG] if model.role else []


def nixl_env(model: Model) -> list[k8s.core.v1.EnvVarArgs]:
    if not model.role:
        return []
    return [
        *downward_env(("VLLM_NIXL_SIDE_CHANNEL_HOST", "status.podIP")),
        k8s.core.v1.EnvVarArgs(name="VLLM_NIXL_SIDE_CHANNEL_PORT", value=str(NIXL_SIDE_CHANNEL_PORT)),
    ]


def routing_sidecar(model: Model, image: str, port_name: str) -> Optional[k8s.core.v1.ContainerArgs]:
    """The P/D sidecar of a decode pod, as a native sidecar (an init container that keeps
    running): it is up before vLLM takes traffic and stops after it."""
    if model.role != DECODE:
        return None
    health = k8s.core.v1.HTTPGetActionArgs(path="/health", port=MODEL_SERVER_PORT)
    return k8s.core.v1.ContainerArgs(
        name="routing-sidecar",
        image=image,
        restart_policy="Always",
        args=[
            f"--port={MODEL_SERVER_PORT}",
            f"--model-server-port={ENGINE_PORT}",
            f"--kv-connector={SIDECAR_CONNECTOR}",
            "--secure-proxy=false",
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name=port_name, container_port=MODEL_SERVER_PORT)],
        # /health answers as soon as the proxy listens; vLLM's own probes say when it can serve.
        readiness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=5),
        liveness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=10),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "512Mi"}
        ),
        # distroless, UID 65532 (Dockerfile.sidecar); no files written with --secure-proxy=false.
        security_context=hardened_container_security(read_only_root=True),
    )
