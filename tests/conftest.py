import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import run_stack  # noqa: E402

# Never a real credential: a recognisable marker the secret-leak checks search for.
FAKE_HF_TOKEN = "hf_TEST_TOKEN_never_real_0123456789"
STACKS = ("dev", "prod")


def _run(stack: str):
    return run_stack(stack, secrets={"maas:hfToken": FAKE_HF_TOKEN})


@pytest.fixture(scope="session")
def stack_runs():
    """Each real stack file run once through __main__.py, with an HF token set as a secret."""
    return {stack: _run(stack) for stack in STACKS}


@pytest.fixture(params=STACKS)
def stack(request, stack_runs):
    return request.param, stack_runs[request.param]


def key_for_every_model(run, stack: str) -> dict[str, str]:
    """Authorization header of a seed-stack consumer that may call every served name."""
    from harness import stack_config
    from llm_maas.models import load_config

    consumer = next(c for c in load_config(stack_config(stack)).consumers if c.models is None)
    return {"Authorization": f"Bearer {run.outputs['apiKeys'][consumer.name]}"}


def pytest_terminal_summary(terminalreporter):
    from schema_check import CEL_REPORT

    if CEL_REPORT.passed or CEL_REPORT.failed or CEL_REPORT.unevaluable:
        terminalreporter.write_line(CEL_REPORT.summary())
