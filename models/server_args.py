"""Arguments the model servers parse, checked where the config can still say which key is wrong.

`extraArgs` are appended after the flags the stack sets, and both servers let the last one win:
an extra `--port` would leave the pod listening where its pool does not send, an extra
`--served-model-name` would stop it answering to its catalog name. So the flags the stack owns
are refused in `extraArgs`, naming the key that sets them.

How each server reads a flag:
- vLLM v0.19.1 (`vllm/utils/argparse_utils.py` FlexibleArgumentParser): `--flag value` or
  `--flag=value`; `_` and `-` are the same in a flag's name; `--flag.key value` sets one key of
  a JSON flag; and, as for any argparse parser, an unambiguous prefix stands for the whole flag.
  `-tp` and `-pp` are the short forms of the parallel sizes.
- llm-d-inference-sim v0.8.2 (Go pflag): `--flag value` or `--flag=value`, exactly as declared.

The model's own source is vLLM's first, positional argument: it must not read as a flag.
"""

from __future__ import annotations

from typing import Optional, Sequence

from .errors import Violation

# Flag -> the config key that sets it.
VLLM_FLAGS = {
    "--model": "source",
    "--served-model-name": "name",
    "--port": "the pool (its target port)",
    "--tensor-parallel-size": "tensorParallel",
    "-tp": "tensorParallel",
    "--max-model-len": "maxModelLen",
    "--enable-lora": "adapters",
    "--max-loras": "adapters",
    "--max-lora-rank": "maxLoraRank",
    "--lora-modules": "adapters",
    "--kv-transfer-config": "prefill",
    "--pipeline-parallel-size": "nodes",
    "-pp": "nodes",
    "--nnodes": "nodes",
    "--node-rank": "nodes",
    "--master-addr": "nodes",
    "--master-port": "nodes",
    "--headless": "nodes",
    "--distributed-executor-backend": "nodes",
}
SIMULATOR_FLAGS = {
    "--model": "name (the simulator simulates <pool>-simulator)",
    "--served-model-name": "name",
    "--port": "the pool (its target port)",
    "--max-loras": "adapters",
    "--lora-modules": "adapters",
}


def _vllm_flag(arg: str) -> Optional[str]:
    if not arg.startswith("--"):
        return arg.split("=", 1)[0] if arg in ("-tp", "-pp") or arg.startswith(("-tp=", "-pp=")) else None
    name = arg[2:].split("=", 1)[0].split(".", 1)[0]
    return "--" + name.replace("_", "-")


def _vllm_owner(arg: str) -> Optional[tuple[str, str]]:
    flag = _vllm_flag(arg)
    if flag is None or flag == "--":
        return None
    for owned, key in VLLM_FLAGS.items():
        # argparse expands an unambiguous prefix (allow_abbrev), so `--served-model` is
        # `--served-model-name`.
        if owned == flag or (flag.startswith("--") and owned.startswith(flag) and len(flag) > 3):
            return owned, key
    return None


def _simulator_owner(arg: str) -> Optional[tuple[str, str]]:
    flag = arg.split("=", 1)[0]
    return (flag, SIMULATOR_FLAGS[flag]) if flag in SIMULATOR_FLAGS else None


def check_extra_args(server: str, extra_args: Sequence[str], at: tuple[str | int, ...]) -> list[Violation]:
    owner_of = _vllm_owner if server == "vllm" else _simulator_owner
    violations = []
    for index, arg in enumerate(extra_args):
        owned = owner_of(arg)
        if owned:
            flag, key = owned
            violations.append(
                Violation(at + (index,), arg,
                          f"the stack sets {flag} itself from {key}; set that instead (the server would take "
                          "whichever comes last)")
            )
    return violations


def check_source(source: Optional[str], at: tuple[str | int, ...]) -> list[Violation]:
    if source is not None and source.startswith("-"):
        return [Violation(at, source, "is vLLM's first argument and would be read as a flag; "
                                      "write the Hugging Face repo id or path")]
    return []
