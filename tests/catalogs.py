"""Generated model catalogs for scale and blast-radius tests and the benchmark."""

from __future__ import annotations

import json


def simulator_catalog(models: int, adapters_per_model: int) -> list[dict]:
    """`models` simulator models with `adapters_per_model` adapters each:
    models * (1 + adapters_per_model) client-facing names."""
    return [
        {
            "name": f"org-{i}/model-{i}-7B",
            "server": "simulator",
            "adapters": [f"model-{i}-adapter-{j}" for j in range(adapters_per_model)],
        }
        for i in range(models)
    ]


def catalog_config(models: list[dict]) -> dict[str, str]:
    return {"maas:models": json.dumps(models), "maas:gateway": json.dumps({"serviceType": "ClusterIP"})}


def consumers(count: int, models: list[dict]) -> list[dict]:
    """`count` consumers: every other one limited to one model's names, all with budgets."""
    return [
        {
            "name": f"team-{i}",
            **({"models": [models[i % len(models)]["name"]]} if i % 2 else {}),
            "tokensPerMinute": 100_000 + i,
            "requestsPerMinute": 600,
        }
        for i in range(count)
    ]
