"""`python -m llm_maas.smoke` against gateways this test runs on 127.0.0.1: healthy, with a broken
model, without key checks, and with pods still loading."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from llm_maas.smoke import main

KEY = "sk-maas-test"
MODELS = ["Qwen/Qwen3-32B", "food-review-1"]


class FakeGateway:
    """Answers like the maas gateway: keys, /v1/models, a JSON 404 for unknown names."""

    def __init__(self, broken=(), requires_key=True, loading_calls=0, models=MODELS, unknown=None):
        self.broken, self.requires_key, self.loading_calls = set(broken), requires_key, loading_calls
        self.models = list(models)
        self.unknown = unknown or (404, {"error": {"code": "model_not_found", "type": "invalid_request_error"}})
        self.requests: list[tuple[str, str]] = []

    def answer(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict, dict]:
        self.requests.append((method, path))
        if self.requires_key and headers.get("Authorization") != f"Bearer {KEY}":
            return 401, {}, {"error": {"message": "missing or unknown API key"}}
        if method == "GET" and path == "/v1/models":
            return 200, {}, {"object": "list", "data": [{"id": name, "object": "model"} for name in self.models]}
        if self.loading_calls > 0:
            self.loading_calls -= 1
            return 503, {}, {"error": "no healthy upstream"}
        model = json.loads(body or b"{}").get("model")
        if model not in MODELS:
            return self.unknown[0], {}, self.unknown[1]
        if model in self.broken:
            return 500, {}, {"error": "engine dead"}
        return 200, {"x-inference-pod": f"{model.split('/')[-1].lower()}-pod-0"}, {"choices": [{"message": {"content": "p"}}]}


@contextmanager
def serving(gateway: FakeGateway) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, payload = gateway.answer(method, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._reply("GET")

        def do_POST(self):
            self._reply("POST")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run(url: str, *extra: str, capsys) -> tuple[int, str]:
    code = main(["--url", url, "--timeout", "5", "--attempts", "3", *extra], sleep=lambda seconds: None)
    return code, capsys.readouterr().out


def _row(out: str, check: str) -> str:
    """The one table row of this check."""
    (line,) = [line for line in out.splitlines() if line.startswith(check)]
    return line


def test_a_healthy_gateway_passes_every_check_and_names_the_pods(capsys):
    with serving(FakeGateway()) as url:
        code, out = _run(url, "--api-key", KEY, capsys=capsys)
    assert code == 0, out
    assert "qwen3-32b-pod-0" in out and "food-review-1-pod-0" in out
    assert "unknown model refused" in out and "no key refused" in out and "0 failed" in out


def test_a_broken_model_fails_the_run_and_is_named(capsys):
    gateway = FakeGateway(broken={"food-review-1"})
    with serving(gateway) as url:
        code, out = _run(url, "--api-key", KEY, capsys=capsys)
    assert code == 1
    (line,) = [line for line in out.splitlines() if "food-review-1" in line]
    assert "FAIL" in line and "500" in line
    # A 5xx is retried (pods may be loading), within the bounded attempts.
    assert gateway.requests.count(("POST", "/v1/chat/completions")) >= 3 + 3


def test_a_gateway_that_lets_keyless_requests_through_fails(capsys):
    with serving(FakeGateway(requires_key=False)) as url:
        code, out = _run(url, "--api-key", KEY, capsys=capsys)
    assert code == 1
    line = _row(out, "no key refused")
    assert "FAIL" in line and "expected 401" in line


def test_pods_still_loading_are_waited_for(capsys):
    with serving(FakeGateway(loading_calls=2)) as url:
        code, out = _run(url, "--api-key", KEY, "--models", "Qwen/Qwen3-32B", capsys=capsys)
    assert code == 0, out


def test_names_and_key_come_from_the_stack_outputs(tmp_path, capsys):
    with serving(FakeGateway()) as url:
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps({"url": url, "servedNames": ["Qwen/Qwen3-32B"], "apiKeys": {"playground": KEY}}))
        code, out = main(["--stack-outputs", str(outputs), "--consumer", "playground"], sleep=lambda s: None), capsys.readouterr().out
    assert code == 0, out
    assert "Qwen/Qwen3-32B" in out and "food-review-1" not in out


def test_an_unreachable_gateway_fails_within_its_bounds(capsys):
    code, out = _run("http://127.0.0.1:9", "--models", "m", capsys=capsys)
    assert code == 1 and "ConnectionError" in out


def test_runs_as_a_module(tmp_path):
    with serving(FakeGateway()) as url:
        done = subprocess.run(
            [sys.executable, "-m", "llm_maas.smoke", "--url", url, "--api-key", KEY, "--attempts", "1"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed, 0 failed" in done.stdout


# Never pass having checked nothing; count only what the check is about -------------------------


def test_an_empty_model_list_fails_and_says_why_but_still_checks_keys(capsys):
    with serving(FakeGateway(models=[])) as url:
        code, out = _run(url, "--api-key", KEY, capsys=capsys)
    assert code == 1
    assert "names none, so no model was checked" in out and f"{url}/v1/models" in out
    line = _row(out, "no key refused")
    assert " ok " in line


def test_an_empty_models_flag_fails(capsys):
    with serving(FakeGateway()) as url:
        code, out = _run(url, "--api-key", KEY, "--models", ",", capsys=capsys)
    assert code == 1 and "--models names none" in out


def test_empty_served_names_fall_back_to_the_listing(tmp_path, capsys):
    with serving(FakeGateway()) as url:
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps({"url": url, "servedNames": [], "apiKeys": {"playground": KEY}}))
        code, out = main(["--stack-outputs", str(outputs), "--consumer", "playground"], sleep=lambda s: None), capsys.readouterr().out
    assert code == 0 and "food-review-1" in out


@pytest.mark.parametrize(
    "unknown",
    [(401, {"error": {"message": "missing or unknown API key"}}), (404, {"error": {"code": "not_found"}}), (400, {"error": "bad request"})],
    ids=["401", "404-other-code", "400"],
)
def test_only_the_json_model_not_found_counts_as_refusing_an_unknown_model(unknown, capsys):
    with serving(FakeGateway(unknown=unknown)) as url:
        code, out = _run(url, "--api-key", KEY, capsys=capsys)
    assert code == 1
    line = _row(out, "unknown model refused")
    assert "FAIL" in line and "expected the JSON 404 model_not_found" in line


def test_a_wrong_key_does_not_pass_the_unknown_model_check(capsys):
    with serving(FakeGateway()) as url:
        code, out = _run(url, "--api-key", "sk-maas-wrong", "--models", "Qwen/Qwen3-32B", capsys=capsys)
    line = _row(out, "unknown model refused")
    assert code == 1 and "FAIL" in line and "401" in line


def test_retries_are_reported_on_stderr(capsys):
    with serving(FakeGateway(loading_calls=2)) as url:
        code = main(["--url", url, "--api-key", KEY, "--models", "Qwen/Qwen3-32B", "--attempts", "3"], sleep=lambda s: None)
        err = capsys.readouterr().err
    assert code == 0
    assert "Qwen/Qwen3-32B: HTTP 503; try 2 of 3 in 2s" in err and "Qwen/Qwen3-32B: HTTP 503; try 3 of 3 in 4s" in err


def test_the_deadline_bounds_the_run_and_names_what_it_cut(capsys):
    now = [0.0]

    def clock():
        return now[0]

    def sleep(seconds):
        now[0] += seconds

    with serving(FakeGateway(loading_calls=100)) as url:
        code = main(["--url", url, "--api-key", KEY, "--models", "Qwen/Qwen3-32B,food-review-1", "--attempts", "10",
                     "--deadline", "15"], sleep=sleep, clock=clock)  # fmt: skip
        captured = capsys.readouterr()
    assert code == 1 and now[0] < 15
    assert "no time left for another try before the deadline" in captured.err
    assert "deadline of 15s reached" in captured.out


def test_connection_errors_show_in_every_row_they_affect(capsys):
    code, out = _run("http://127.0.0.1:9", "--api-key", KEY, "--models", "m", capsys=capsys)
    rows = [line for line in out.splitlines()[1:-1]]
    assert code == 1 and len(rows) == 3
    assert all("ConnectionError" in row and "FAIL" in row for row in rows)
