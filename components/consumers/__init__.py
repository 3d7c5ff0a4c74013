"""Consumers: API keys and access, budgets per consumer and per team in money, the rate-limit service, usage reporting."""
