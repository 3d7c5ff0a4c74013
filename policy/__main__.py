"""maas policy pack: `pulumi preview --policy-pack policy` (README: Policy pack).

The CLI runs this file from the pack's folder. Installed with the library, `python -m
llm_maas.policy --path` prints that folder, for `--policy-pack "$(python -m llm_maas.policy --path)"`.
"""

import sys
from pathlib import Path

if sys.argv[1:] == ["--path"]:
    print(Path(__file__).resolve().parent)
    raise SystemExit(0)

# The pack proper: only when the CLI runs it (it then serves the analyzer on a port it prints).
from pulumi_policy import PolicyPack  # noqa: E402

from maas_policies import POLICIES  # noqa: E402

PolicyPack(name="maas", policies=POLICIES)
