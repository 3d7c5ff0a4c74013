"""Download the CRDs a stack pins into `<out>/<source>/<version>/`, the layout the schema
tests read from MAAS_CRDS_DIR, so anyone with internet can run the same checks:

    python -m llm_maas.models.crds --stack dev --out crds-download
    MAAS_CRDS_DIR=crds-download make test
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import requests
import yaml

from .config import Versions
from .loader import load_config, read_stack_files

AGENTGATEWAY_CRD_TEMPLATES = (
    "https://api.github.com/repos/agentgateway/agentgateway/contents/"
    "controller/install/helm/agentgateway-crds/templates?ref={version}"
)
TIMEOUT_SECONDS = 60


class DownloadError(RuntimeError):
    pass


def _get(session: Any, url: str) -> requests.Response:
    try:
        response = session.get(url, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise DownloadError(f"cannot fetch {url}: {error}") from error
    if response.status_code != 200:
        raise DownloadError(f"cannot fetch {url}: HTTP {response.status_code}")
    return response


def crds_in(text: str) -> Iterable[tuple[str, str]]:
    """(file name, document text) for each CustomResourceDefinition in a YAML stream, named
    `<group>_<plural>.yaml` as upstream names its CRD files."""
    for document in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        parsed = yaml.safe_load(document)
        if isinstance(parsed, dict) and parsed.get("kind") == "CustomResourceDefinition":
            spec = parsed["spec"]
            yield f"{spec['group']}_{spec['names']['plural']}.yaml", document.strip() + "\n"


def _bundle(*urls: str) -> Callable[[Any], Iterable[tuple[str, str]]]:
    return lambda session: [crd for url in urls for crd in crds_in(_get(session, url).text)]


def _agentgateway(version: str) -> Callable[[Any], Iterable[tuple[str, str]]]:
    def fetch(session: Any) -> Iterable[tuple[str, str]]:
        listing = _get(session, AGENTGATEWAY_CRD_TEMPLATES.format(version=version)).json()
        for entry in listing:
            if entry["name"].endswith(".yaml"):
                yield from crds_in(_get(session, entry["download_url"]).text)

    return fetch


def download(versions: Versions, out: Path, session: Any = None) -> list[Path]:
    session = session or requests.Session()
    plan = [
        ("gateway-api", versions.gateway_api, _bundle(versions.gateway_api_crds_url)),
        ("gaie", versions.inference_extension, _bundle(versions.inference_extension_crds_url)),
        ("llm-d-router", versions.llmd_router, _bundle(*versions.llmd_router_crd_urls)),
        ("agentgateway", versions.agentgateway, _agentgateway(versions.agentgateway)),
        ("keda", versions.keda_release, _bundle(versions.keda_crds_url)),
        ("prometheus-operator", versions.prometheus_operator, _bundle(versions.prometheus_operator_crds_url)),
        ("lws", versions.leader_worker_set, _bundle(versions.leader_worker_set_crd_url)),
    ]
    written = []
    for source, version, fetch in plan:
        folder = out / source / version
        files = list(fetch(session))
        if not files:
            raise DownloadError(f"no CustomResourceDefinitions found for {source} {version}")
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, text in files:
            path = folder / file_name
            path.write_text(text)
            written.append(path)
    return written


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="stack whose version pins to download (default: dev)")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="folder holding Pulumi.yaml")
    parser.add_argument("--out", type=Path, default=Path("crds-download"), help="destination folder")
    args = parser.parse_args(argv)
    versions = load_config(read_stack_files(args.project, args.stack)).versions
    try:
        written = download(versions, args.out)
    except DownloadError as error:
        parser.exit(1, f"error: {error}\n")
    print(f"{len(written)} CRDs written under {args.out}; run: MAAS_CRDS_DIR={args.out} make test")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
