"""Observability: PodMonitors, the Grafana dashboards and the metric names they read."""
