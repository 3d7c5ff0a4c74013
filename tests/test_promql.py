"""Every PromQL a user reads or the stack deploys parses as Prometheus parses it, and names only
metrics the scraped pods export.

promql-parser is the Rust port of Prometheus's own parser (GreptimeTeam/promql-parser, with
function signatures and argument types): it refuses what `promtool` refuses, e.g. the shorthand
`x{namespace, pool}` or `rate()` of an instant vector. Grafana variables are interpolated first,
as Grafana does before it sends a query.
"""

from __future__ import annotations

import json
import re

import promql_parser
import pytest

from harness import REPO
from prometheus_sim import DEPRECATED_EPP_METRICS, EPP_METRICS, GATEWAY_METRICS, SERVER_METRICS

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.S | re.M)
EXPORTED = {*SERVER_METRICS, *EPP_METRICS, *GATEWAY_METRICS}
# Grafana's built-ins, and a multi-value label variable as Grafana renders "All" into a regex.
GRAFANA_VALUES = {"__rate_interval": "1m", "__interval": "30s", "__range": "1h"}
GRAFANA_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


def selected_metrics(query: str) -> list[str]:
    names: list[str] = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)

    promql_parser.walk(promql_parser.parse(query), visit)
    return names


def doc_snippets() -> list[tuple[str, str, str]]:
    """(file, language, text) of every fenced block in the README and docs/."""
    return [
        (path.relative_to(REPO).as_posix(), match.group(1), match.group(2))
        for path in DOCS
        for match in FENCE.finditer(path.read_text())
    ]


PROMQL_SNIPPETS = [(path, text) for path, language, text in doc_snippets() if language == "promql"]


def test_the_docs_have_promql_to_check():
    assert {path for path, _ in PROMQL_SNIPPETS} >= {"README.md", "docs/scheduling.md"}


@pytest.mark.parametrize("path,query", PROMQL_SNIPPETS, ids=[f"{p}:{i}" for i, (p, _) in enumerate(PROMQL_SNIPPETS)])
def test_every_promql_snippet_in_the_docs_parses_and_reads_exported_metrics(path, query):
    try:
        metrics = selected_metrics(query)
    except ValueError as error:
        pytest.fail(f"{path}: {error}\n{query}")
    assert metrics, f"{path}: a PromQL snippet that reads no metric\n{query}"
    assert set(metrics) <= EXPORTED, f"{path}: {set(metrics) - EXPORTED} is not exported (or is deprecated)"


def test_no_promql_hides_in_an_untagged_block():
    # A query in a plain ``` block would dodge the check above: PromQL blocks are tagged `promql`.
    metric = re.compile("|".join(re.escape(name) for name in sorted(EXPORTED | set(DEPRECATED_EPP_METRICS), key=len, reverse=True)))
    for path, language, text in doc_snippets():
        if language in ("", "text") and metric.search(text):
            pytest.fail(f"{path}: a code block naming a metric is not tagged promql:\n{text}")


def grafana_interpolated(query: str) -> str:
    return GRAFANA_VARIABLE.sub(lambda match: GRAFANA_VALUES.get(match.group(1), ".+"), query)


def deployed_queries(run) -> list[str]:
    queries = [trigger["metadata"]["query"] for scaled in run.objects("ScaledObject") for trigger in scaled["spec"]["triggers"]]
    for config_map in run.objects("ConfigMap"):
        if config_map["metadata"].get("labels", {}).get("grafana_dashboard") != "1":
            continue
        board = json.loads(next(iter(config_map["data"].values())))
        queries += [grafana_interpolated(target["expr"]) for panel in board["panels"] for target in panel["targets"]]
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                # label_values(SERIES, LABEL) is Grafana's; its first argument is PromQL.
                inner = re.fullmatch(r"label_values\((.*), *\w+\)", variable["query"]["query"])
                assert inner, variable["query"]
                queries.append(grafana_interpolated(inner.group(1)))
    return queries


def test_every_deployed_trigger_and_dashboard_query_parses(stack):
    name, run = stack
    queries = deployed_queries(run)
    assert any("vector(0)" in query for query in queries), "the stack's ScaledObject triggers are among them"
    for query in queries:
        try:
            metrics = selected_metrics(query)
        except ValueError as error:
            pytest.fail(f"{name}: {error}\n{query}")
        assert set(metrics) <= EXPORTED, (name, query)
