"""Cluster add-ons the stack can install on kind: KEDA, the LeaderWorkerSet controller, kube-prometheus-stack."""
