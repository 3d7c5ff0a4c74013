"""Smoke check of a running maas endpoint: every served name answers, an unknown one is refused,
and a request without a key is turned away when the gateway wants keys.

    python -m llm_maas.smoke --url http://localhost:8080 --api-key sk-maas-...
    pulumi stack output --json --show-secrets | python -m llm_maas.smoke --stack-outputs - --consumer playground

Pods that are still loading answer 5xx (or the connection fails); those checks are retried with
backoff within a bounded budget, every other answer counts at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import requests

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
# The simulator names the pod that answered (llm-d-inference-sim, with POD_NAME set).
POD_HEADER = "x-inference-pod"


@dataclass
class Check:
    name: str
    model: str
    passed: bool
    status: Optional[int]
    detail: str


@dataclass
class Settings:
    url: str
    api_key: Optional[str]
    timeout: float = 10.0
    attempts: int = 5
    backoff: float = 2.0


def _retrying(settings: Settings, send: Callable[[], requests.Response], sleep=time.sleep) -> requests.Response | str:
    """The first answer that is not a 5xx (or the last one), or the last connection error."""
    outcome: requests.Response | str = "no attempt"
    for attempt in range(settings.attempts):
        try:
            outcome = send()
            if outcome.status_code < 500 and outcome.status_code != 429:
                return outcome
        except requests.RequestException as error:
            outcome = f"{type(error).__name__}: {error}"
        if attempt + 1 < settings.attempts:
            sleep(settings.backoff * (attempt + 1))
    return outcome


def _headers(api_key: Optional[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _chat(settings: Settings, model: str, api_key: Optional[str]) -> Callable[[], requests.Response]:
    body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}
    return lambda: requests.post(settings.url + CHAT_PATH, json=body, headers=_headers(api_key), timeout=settings.timeout)


def _is_json_error(response: requests.Response) -> bool:
    try:
        return isinstance(response.json().get("error"), (dict, str))
    except ValueError:
        return False


def served_models(settings: Settings) -> list[str]:
    response = _retrying(
        settings, lambda: requests.get(settings.url + MODELS_PATH, headers=_headers(settings.api_key), timeout=settings.timeout)
    )
    if isinstance(response, str) or response.status_code != 200:
        detail = response if isinstance(response, str) else f"HTTP {response.status_code}"
        raise SystemExit(f"cannot list models at {settings.url}{MODELS_PATH}: {detail}")
    return [entry["id"] for entry in response.json().get("data", [])]


def run_checks(settings: Settings, models: Sequence[str], sleep=time.sleep) -> list[Check]:
    checks = []
    for model in models:
        response = _retrying(settings, _chat(settings, model, settings.api_key), sleep)
        if isinstance(response, str):
            checks.append(Check("completion", model, False, None, response))
            continue
        pod = response.headers.get(POD_HEADER, "")
        passed = response.status_code == 200
        detail = f"pod {pod}" if passed and pod else ("" if passed else response.text[:120])
        checks.append(Check("completion", model, passed, response.status_code, detail))
    unknown = f"maas-smoke-unknown-{uuid.uuid4().hex[:8]}"
    response = _retrying(settings, _chat(settings, unknown, settings.api_key), sleep)
    if isinstance(response, str):
        checks.append(Check("unknown model refused", unknown, False, None, response))
    else:
        refused = 400 <= response.status_code < 500 and _is_json_error(response)
        checks.append(Check("unknown model refused", unknown, refused, response.status_code,
                            "" if refused else "expected a 4xx JSON error"))  # fmt: skip
    if settings.api_key and models:
        response = _retrying(settings, _chat(settings, models[0], None), sleep)
        status = None if isinstance(response, str) else response.status_code
        checks.append(Check("no key refused", models[0], status == 401, status, "" if status == 401 else "expected 401"))
    return checks


def table(checks: Sequence[Check]) -> str:
    rows = [("check", "model", "status", "result", "detail")]
    rows += [(c.name, c.model, str(c.status or "-"), "ok" if c.passed else "FAIL", c.detail) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4] for row in rows)


def _from_outputs(source: Optional[str]) -> dict:
    """The stack outputs from a file, or from standard input for `-` (so keys never touch disk)."""
    if source is None:
        return {}
    outputs = json.loads(sys.stdin.read() if source == "-" else Path(source).read_text())
    if not isinstance(outputs, dict):
        raise SystemExit(f"{source}: expected the object `pulumi stack output --json` prints")
    return outputs


def main(argv: Optional[Sequence[str]] = None, sleep=time.sleep) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_maas.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="gateway base URL (default: the stack output `url`)")
    parser.add_argument("--api-key", help="API key to call with (default: --consumer's key from the stack outputs)")
    parser.add_argument("--models", help="comma-separated names (default: servedNames, else GET /v1/models)")
    parser.add_argument("--stack-outputs", help="file (or - for stdin) from `pulumi stack output --json [--show-secrets]`")
    parser.add_argument("--consumer", help="consumer whose key from the stack outputs' apiKeys to use")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--attempts", type=int, default=5, help="tries per check while pods load (default 5)")
    args = parser.parse_args(argv)
    outputs = _from_outputs(args.stack_outputs)
    url = (args.url or outputs.get("url") or "").rstrip("/")
    if not url:
        parser.error("give --url, or --stack-outputs with a `url` output")
    api_key = args.api_key
    if api_key is None and args.consumer:
        keys = outputs.get("apiKeys")
        if not isinstance(keys, dict) or args.consumer not in keys:
            parser.error(f"no key for consumer {args.consumer!r}: pass --stack-outputs from `pulumi stack output --json --show-secrets`")
        api_key = keys[args.consumer]
    settings = Settings(url=url, api_key=api_key, timeout=args.timeout, attempts=max(1, args.attempts))
    if args.models:
        models = [name for name in args.models.split(",") if name]
    else:
        models = list(outputs.get("servedNames") or served_models(settings))
    checks = run_checks(settings, models, sleep)
    print(table(checks))
    failed = sum(not c.passed for c in checks)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0
