"""The policy pack served the way `pulumi preview --policy-pack policy` runs it: its own process,
the analyzer gRPC protocol on 127.0.0.1, every resource sent as the engine sends it."""

from __future__ import annotations

import select
import subprocess
import sys
from typing import Iterator

import grpc
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from harness import REPO


def serve_policy_pack() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """policy/__main__.py in its own process: it serves the analyzer on 127.0.0.1 and prints the port."""
    process = subprocess.Popen([sys.executable, "__main__.py"], cwd=REPO / "policy", stdout=subprocess.PIPE)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the policy pack did not start within 30 s"
        port = int(process.stdout.readline())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=10)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def _struct(inputs) -> struct_pb2.Struct:
    return json_format.ParseDict(inputs, struct_pb2.Struct())


def diagnostics(stub, run) -> list[tuple[str, str, str]]:
    """Every violation the pack reports over a run: each resource as the engine sends it (secrets
    still marked), then the whole stack."""
    found = []
    resources = []
    for r in run.registrations:
        options = analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, parent=r.parent)
        response = stub.Analyze(
            analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.inputs), urn=r.urn, name=r.name, options=options),
            timeout=10,
        )
        found += [(d.policyName, r.name, d.message) for d in response.diagnostics]
        resources.append(
            analyzer_pb2.AnalyzerResource(type=r.type, properties=_struct(r.inputs), urn=r.urn, name=r.name, options=options, parent=r.parent)
        )
    response = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=30)
    return found + [(d.policyName, "stack", d.message) for d in response.diagnostics]
