"""maas policy pack: `pulumi preview --policy-pack policy` (README: Policy pack)."""

from pulumi_policy import PolicyPack

from maas_policies import POLICIES

PolicyPack(name="maas", policies=POLICIES)
