"""A deployed stack never sees a surprise replacement: every resource the seed stacks registered
at the last release (tests/registrations/<stack>.txt, one URN a line) is registered again under
the same URN (type, name and parent chain), or carried by an `aliases` option. New resources are
fine; a resource removed on purpose leaves the file in the same commit that removes it."""

from pathlib import Path

import pytest

RECORDED = Path(__file__).parent / "registrations"


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_released_resource_keeps_its_urn(stack_runs, name):
    released = set((RECORDED / f"{name}.txt").read_text().split())
    run = stack_runs[name]
    kept = {r.urn for r in run.registrations} | {alias for r in run.registrations for alias in r.aliases}
    assert released and sorted(released - kept) == []


def test_a_rename_carried_by_aliases_counts_as_kept():
    import pulumi
    import pulumi_kubernetes as k8s

    from harness import record

    def build():
        parent = pulumi.ComponentResource("maas:index:Example", "parent")
        k8s.core.v1.ConfigMap(
            "new-name", data={"a": "b"},
            opts=pulumi.ResourceOptions(parent=parent, aliases=[pulumi.Alias(name="old-name")]),
        )  # fmt: skip

    (renamed,) = [r for r in record(build, {}).registrations if r.name == "new-name"]
    assert renamed.urn.endswith("maas:index:Example$kubernetes:core/v1:ConfigMap::new-name")
    assert renamed.aliases == [renamed.urn.removesuffix("new-name") + "old-name"]
