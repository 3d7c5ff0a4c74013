"""How a model's served names are split over HTTPRoutes, and what the routes are called: the
config checks the names (no split may take another model's route name) and ModelPool builds them.
"""

from __future__ import annotations

from typing import Sequence

# HTTPRoute limits (Gateway API v1): 64 matches per rule and, by a CRD rule, 128 per route.
MATCHES_PER_RULE = 64
MATCHES_PER_ROUTE = 128


def route_chunks(names: Sequence[str]) -> list[list[list[str]]]:
    """Split served names into routes of <=128 matches, each split into rules of <=64."""
    routes = [names[i : i + MATCHES_PER_ROUTE] for i in range(0, len(names), MATCHES_PER_ROUTE)]
    return [[list(r[i : i + MATCHES_PER_RULE]) for i in range(0, len(r), MATCHES_PER_RULE)] for r in routes]


def route_name(pool: str, index: int) -> str:
    """The pool's first route carries its name; a catalog too big for one route adds `<pool>-2`, ..."""
    return pool if index == 0 else f"{pool}-{index + 1}"


def route_names(pool: str, served_names: Sequence[str]) -> list[str]:
    return [route_name(pool, index) for index in range(len(route_chunks(served_names)))]
