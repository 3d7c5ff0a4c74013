"""The maas policy pack (`pulumi preview --policy-pack policy`); installed as llm_maas.policy."""
