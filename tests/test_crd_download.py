"""The CRD download command, against a fake HTTP session (tests never reach the network)."""

import json

import pytest
import yaml

import schema_check
from llm_maas.models import Versions
from llm_maas.models.crds import AGENTGATEWAY_CRD_TEMPLATES, DownloadError, download


def crd(group, kind, plural):
    """A minimal, synthetic CustomResourceDefinition document."""
    return yaml.safe_dump(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "names": {"kind": kind, "plural": plural},
                "scope": "Namespaced",
                "versions": [
                    {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
                ],
            },
        }
    )


class FakeResponse:
    def __init__(self, status_code, text):
        self.status_code, self.text = status_code, text

    def json(self):
        return json.loads(self.text)


class FakeSession:
    def __init__(self, pages):
        self.pages, self.requested = pages, []

    def get(self, url, timeout):
        assert timeout > 0
        self.requested.append(url)
        return FakeResponse(200, self.pages[url]) if url in self.pages else FakeResponse(404, "")


def pages_for(versions):
    listing = AGENTGATEWAY_CRD_TEMPLATES.format(version=versions.agentgateway)
    return {
        # A bundle mixes CRDs with other objects; only the CRDs are kept.
        versions.gateway_api_crds_url: crd("gateway.networking.k8s.io", "HTTPRoute", "httproutes")
        + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
        + crd("gateway.networking.k8s.io", "Gateway", "gateways"),
        versions.inference_extension_crds_url: crd("inference.networking.k8s.io", "InferencePool", "inferencepools"),
        listing: json.dumps([{"name": "agentgateway.dev_agentgatewaypolicies.yaml", "download_url": "https://raw/policies"}]),
        "https://raw/policies": crd("agentgateway.dev", "AgentgatewayPolicy", "agentgatewaypolicies"),
        versions.keda_crds_url: crd("keda.sh", "ScaledObject", "scaledobjects"),
        versions.prometheus_operator_crds_url: crd("monitoring.coreos.com", "PodMonitor", "podmonitors"),
        versions.leader_worker_set_crd_url: crd("leaderworkerset.x-k8s.io", "LeaderWorkerSet", "leaderworkersets"),
        **dict(zip(versions.llmd_router_crd_urls, [
            crd("llm-d.ai", "InferenceObjective", "inferenceobjectives"),
            crd("llm-d.ai", "InferenceModelRewrite", "inferencemodelrewrites"),
        ])),
    }


def test_download_writes_the_layout_the_schema_tests_read(tmp_path):
    versions = Versions()
    session = FakeSession(pages_for(versions))
    written = download(versions, tmp_path, session)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "agentgateway/v1.4.1/agentgateway.dev_agentgatewaypolicies.yaml",
        "gaie/v1.6.0/inference.networking.k8s.io_inferencepools.yaml",
        "gateway-api/v1.6.1/gateway.networking.k8s.io_gateways.yaml",
        "gateway-api/v1.6.1/gateway.networking.k8s.io_httproutes.yaml",
        "keda/v2.20.2/keda.sh_scaledobjects.yaml",
        "llm-d-router/v0.10.0/llm-d.ai_inferencemodelrewrites.yaml",
        "llm-d-router/v0.10.0/llm-d.ai_inferenceobjectives.yaml",
        "lws/v0.10.0/leaderworkerset.x-k8s.io_leaderworkersets.yaml",
        "prometheus-operator/v0.93.0/monitoring.coreos.com_podmonitors.yaml",
    ]
    catalog = schema_check.CrdCatalog(tmp_path, dict(schema_check.crd_pins(versions)))
    assert set(catalog.schemas) == {
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("gateway.networking.k8s.io/v1", "Gateway"),
        ("inference.networking.k8s.io/v1", "InferencePool"),
        ("agentgateway.dev/v1", "AgentgatewayPolicy"),
        ("keda.sh/v1", "ScaledObject"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
        ("llm-d.ai/v1", "InferenceObjective"),
        ("llm-d.ai/v1", "InferenceModelRewrite"),
    }


def test_download_follows_the_pinned_versions(tmp_path):
    versions = Versions(
        gatewayApi="v1.5.1", inferenceExtension="v1.6.0", agentgateway="v1.5.0", keda="2.19.0", prometheusOperator="v0.92.0",
        leaderWorkerSet="v0.9.0", llmdRouter="v0.11.0",
    )
    session = FakeSession(pages_for(versions))
    download(versions, tmp_path, session)
    assert any("/v1.5.1/standard-install.yaml" in url for url in session.requested)
    assert any("/v1.6.0/manifests.yaml" in url for url in session.requested)
    assert any("ref=v1.5.0" in url for url in session.requested)
    assert any("/v2.19.0/keda-2.19.0-crds.yaml" in url for url in session.requested)
    assert any("/v0.92.0/stripped-down-crds.yaml" in url for url in session.requested)
    assert any("lws/v0.9.0/config/crd/bases/" in url for url in session.requested)
    assert sum("llm-d-router/v0.11.0/config/crd/bases/llm-d.ai_" in url for url in session.requested) == 2


def test_a_failed_fetch_names_the_url_and_writes_nothing(tmp_path):
    versions = Versions()
    pages = pages_for(versions)
    del pages[versions.inference_extension_crds_url]
    with pytest.raises(DownloadError, match="manifests.yaml: HTTP 404"):
        download(versions, tmp_path, FakeSession(pages))
    assert not (tmp_path / "gaie").exists()
