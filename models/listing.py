"""The OpenAI model list `GET /v1/models` answers: derived from the catalog alone, and bounded by
where it lives.

The list is a ConfigMap's file, and the API server refuses a ConfigMap whose data exceeds 1 MiB
(kubernetes pkg/apis/core/validation ValidateConfigMap, `core.MaxSecretSize`). That bound also
keeps it inside agentgateway's 2 MiB body buffer (`crates/http/src/lib.rs` DEFAULT_BUFFER_LIMIT
at v1.4.1), past which the per-consumer filter could not read it.
"""

from __future__ import annotations

import json
from typing import Sequence

from .errors import Violation

PRODUCT = "maas"
"""The product's name: the `owned_by` of every listed model, and the part-of label."""
CONFIG_MAP_MAX_BYTES = 1024 * 1024


def model_list_document(served_names: Sequence[str]) -> str:
    """The OpenAI list. `created` is 0: the catalog records no creation time, and a changing
    value would rewrite the ConfigMap on every run."""
    return json.dumps(
        {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": PRODUCT} for name in served_names],
        },
        separators=(",", ":"),
    )


def check_listing(served_names: Sequence[str]) -> list[Violation]:
    size = len(model_list_document(served_names).encode())
    if size <= CONFIG_MAP_MAX_BYTES:
        return []
    return [
        Violation(
            ("models",),
            f"{len(served_names)} served names",
            f"their /v1/models list is {size} bytes, and the ConfigMap that holds it may have at most "
            f"{CONFIG_MAP_MAX_BYTES} (1 MiB); serve fewer or shorter names, or split the catalog over two stacks",
        )
    ]
