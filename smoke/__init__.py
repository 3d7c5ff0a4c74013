"""Smoke check of a running maas endpoint: every served name answers, an unknown one gets the
JSON 404 `model_not_found`, and a request without a key is turned away when the gateway wants
keys.

    python -m llm_maas.smoke --url http://localhost:8080 --api-key sk-maas-...
    pulumi stack output --json --show-secrets | python -m llm_maas.smoke --stack-outputs - --consumer playground

Pods that are still loading answer 5xx (or the connection fails); those checks are retried with
backoff, each attempt reported on stderr, every other answer counts at once. `--deadline` bounds
the whole run: a check it cuts short fails and says so. A run that has nothing to check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import requests

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
# The simulator names the pod that answered (llm-d-inference-sim, with POD_NAME set).
POD_HEADER = "x-inference-pod"
# What the gateway's catch-all answers for a name no model serves (InferenceGateway).
MODEL_NOT_FOUND = "model_not_found"
DEFAULT_DEADLINE = 300.0


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
    deadline: float = DEFAULT_DEADLINE
    """Seconds the whole run may take."""
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def remaining(self) -> float:
        return self.deadline - (self.clock() - self.started)


class Unanswered(str):
    """Why a check got no HTTP answer: a connection error, or the deadline."""


def _retrying(
    settings: Settings, label: str, send: Callable[[float], requests.Response], sleep=time.sleep
) -> requests.Response | Unanswered:
    """The first answer that is not a 5xx or 429 (or the last one), or why there was none. Each
    retry is reported on stderr with what came back and how long until the next try."""
    outcome: requests.Response | Unanswered = Unanswered("no attempt")
    for attempt in range(settings.attempts):
        if settings.remaining <= 0:
            return Unanswered(f"deadline of {settings.deadline:g}s reached")
        try:
            outcome = send(min(settings.timeout, settings.remaining))
            if outcome.status_code < 500 and outcome.status_code != 429:
                return outcome
            seen = f"HTTP {outcome.status_code}"
        except requests.RequestException as error:
            outcome = Unanswered(f"{type(error).__name__}: {error}")
            seen = type(error).__name__
        wait = settings.backoff * (attempt + 1)
        if attempt + 1 == settings.attempts:
            break
        if wait >= settings.remaining:
            print(f"{label}: {seen}; no time left for another try before the deadline", file=sys.stderr)
            return Unanswered(f"deadline of {settings.deadline:g}s reached; last try: {seen}")
        print(f"{label}: {seen}; try {attempt + 2} of {settings.attempts} in {wait:g}s", file=sys.stderr)
        sleep(wait)
    return outcome


def _headers(api_key: Optional[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _chat(settings: Settings, model: str, api_key: Optional[str]) -> Callable[[float], requests.Response]:
    body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}
    return lambda timeout: requests.post(settings.url + CHAT_PATH, json=body, headers=_headers(api_key), timeout=timeout)


def _error_code(response: requests.Response) -> Optional[str]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


def served_models(settings: Settings, sleep=time.sleep) -> list[str]:
    response = _retrying(
        settings, MODELS_PATH,
        lambda timeout: requests.get(settings.url + MODELS_PATH, headers=_headers(settings.api_key), timeout=timeout),
        sleep,
    )  # fmt: skip
    if isinstance(response, Unanswered) or response.status_code != 200:
        detail = response if isinstance(response, Unanswered) else f"HTTP {response.status_code}"
        raise SystemExit(f"cannot list models at {settings.url}{MODELS_PATH}: {detail}")
    return [entry["id"] for entry in response.json().get("data", [])]


def _check(name: str, model: str, response: requests.Response | Unanswered, passed: Callable[[requests.Response], bool],
           expected: str, detail: Callable[[requests.Response], str] = lambda r: "") -> Check:  # fmt: skip
    if isinstance(response, Unanswered):
        return Check(name, model, False, None, str(response))
    if passed(response):
        return Check(name, model, True, response.status_code, detail(response))
    return Check(name, model, False, response.status_code, f"{expected}; got {response.text[:120]}".strip())


def run_checks(settings: Settings, models: Sequence[str], sleep=time.sleep) -> list[Check]:
    checks = []
    for model in models:
        checks.append(_check(
            "completion", model, _retrying(settings, model, _chat(settings, model, settings.api_key), sleep),
            lambda r: r.status_code == 200, "expected 200",
            lambda r: f"pod {r.headers[POD_HEADER]}" if POD_HEADER in r.headers else "",
        ))  # fmt: skip
    unknown = f"maas-smoke-unknown-{uuid.uuid4().hex[:8]}"
    checks.append(_check(
        "unknown model refused", unknown, _retrying(settings, unknown, _chat(settings, unknown, settings.api_key), sleep),
        lambda r: r.status_code == 404 and _error_code(r) == MODEL_NOT_FOUND, f"expected the JSON 404 {MODEL_NOT_FOUND}",
    ))  # fmt: skip
    if settings.api_key:
        # Keys are checked before any route is chosen, so any name will do.
        model = models[0] if models else unknown
        checks.append(_check(
            "no key refused", model, _retrying(settings, f"{model} (no key)", _chat(settings, model, None), sleep),
            lambda r: r.status_code == 401, "expected 401",
        ))  # fmt: skip
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
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        outputs = json.loads(text)
    except ValueError:
        raise SystemExit(f"{source}: not the JSON `pulumi stack output --json` prints (is the stack deployed?)") from None
    if not isinstance(outputs, dict):
        raise SystemExit(f"{source}: expected the object `pulumi stack output --json` prints")
    return outputs


def main(argv: Optional[Sequence[str]] = None, sleep=time.sleep, clock: Callable[[], float] = time.monotonic) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm_maas.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="gateway base URL (default: the stack output `url`)")
    parser.add_argument("--api-key", help="API key to call with (default: --consumer's key from the stack outputs)")
    parser.add_argument("--models", help="comma-separated names (default: servedNames, else GET /v1/models)")
    parser.add_argument("--stack-outputs", help="file (or - for stdin) from `pulumi stack output --json [--show-secrets]`")
    parser.add_argument("--consumer", help="consumer whose key from the stack outputs' apiKeys to use")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--attempts", type=int, default=5, help="tries per check while pods load (default 5)")
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE,
                        help=f"seconds the whole run may take (default {DEFAULT_DEADLINE:g})")  # fmt: skip
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
    settings = Settings(url=url, api_key=api_key, timeout=args.timeout, attempts=max(1, args.attempts),
                        deadline=args.deadline, clock=clock)  # fmt: skip
    if args.models is not None:
        models, source = [name.strip() for name in args.models.split(",") if name.strip()], "--models"
    elif outputs.get("servedNames"):
        models, source = list(outputs["servedNames"]), "the stack output servedNames"
    else:
        models, source = served_models(settings, sleep), f"{url}{MODELS_PATH}"
    checks = run_checks(settings, models, sleep)
    if not models:
        checks.insert(0, Check("models to check", "-", False, None, f"{source} names none, so no model was checked"))
    print(table(checks))
    failed = sum(not c.passed for c in checks)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0
