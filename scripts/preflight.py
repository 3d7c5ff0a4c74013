"""What the Makefile's stack commands need, checked before they run, each missing piece named with
what to do about it. Standard library only: it runs before any virtualenv exists.

    python3 scripts/preflight.py --cli                  # a Pulumi CLI new enough for Pulumi.yaml
    python3 scripts/preflight.py --cli --stack dev      # ... and the stack exists
    python3 scripts/preflight.py --tool kubectl --file .kube/maas.yaml

Exit status 0 when everything is there, 2 otherwise (with one line per problem on stderr).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

# 3.187.0 validates `type: object` config values; 3.186 already accepted the type (pulumi/pulumi
# #20129) but rejects every object default in Pulumi.yaml at project load (#20132).
MINIMUM_CLI = (3, 187, 0)
INSTALL = "install it: curl -fsSL https://get.pulumi.com | sh (or `make dev`, which installs the pinned CLI)"
COMMAND_SECONDS = 60

HINTS = {
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/)",
    "docker": "install Docker and start it (kind runs the cluster in containers)",
    "jq": "install jq (https://jqlang.org/download/)",
}


def _version(text: str) -> Optional[tuple[int, ...]]:
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in match.groups()) if match else None


def _run(argv: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        return 1, str(error)
    return done.returncode, done.stdout + done.stderr


def check_cli() -> list[str]:
    if shutil.which("pulumi") is None:
        return [f"the Pulumi CLI is not on PATH: {INSTALL}"]
    code, out = _run(["pulumi", "version"])
    version = _version(out) if code == 0 else None
    wanted = ".".join(map(str, MINIMUM_CLI))
    if version is None:
        return [f"`pulumi version` did not say which version it is ({out.strip()[:80]!r}); {wanted} or newer is needed"]
    if version < MINIMUM_CLI:
        shown = ".".join(map(str, version))
        return [f"Pulumi CLI {shown} is older than {wanted}, the first that loads this project's object-typed config: "
                "upgrade with `pulumi self-update`, or curl -fsSL https://get.pulumi.com | sh"]  # fmt: skip
    return []


def check_stack(stack: str) -> list[str]:
    code, out = _run(["pulumi", "stack", "ls", "--json"])
    if code != 0:
        return [f"cannot list stacks ({out.strip().splitlines()[-1] if out.strip() else 'no output'}): "
                "is PULUMI_BACKEND_URL set and the passphrase in PULUMI_CONFIG_PASSPHRASE?"]  # fmt: skip
    try:
        names = {entry.get("name", "").split("/")[-1] for entry in json.loads(out)}
    except (ValueError, AttributeError):
        return [f"`pulumi stack ls --json` printed no stack list: {out.strip()[:80]!r}"]
    if stack not in names:
        return [f"there is no {stack} stack yet: run `make dev` first"]
    return []


def check_tool(tool: str) -> list[str]:
    return [] if shutil.which(tool) else [f"{tool} is not on PATH: {HINTS.get(tool, f'install {tool}')}"]


def check_file(path: str) -> list[str]:
    return [] if Path(path).is_file() else [f"{path} does not exist: run `make dev`, which creates the cluster and it"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cli", action="store_true", help=f"a Pulumi CLI {'.'.join(map(str, MINIMUM_CLI))} or newer")
    parser.add_argument("--stack", help="this stack exists in the current backend (implies --cli)")
    parser.add_argument("--tool", action="append", default=[], help="a command that must be on PATH (repeatable)")
    parser.add_argument("--file", action="append", default=[], help="a file that must exist (repeatable)")
    args = parser.parse_args(argv)
    problems = [problem for tool in args.tool for problem in check_tool(tool)]
    problems += [problem for path in args.file for problem in check_file(path)]
    if args.cli or args.stack:
        cli = check_cli()
        problems += cli
        if args.stack and not cli:
            problems += check_stack(args.stack)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
