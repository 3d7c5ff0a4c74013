"""Serving: per model its InferencePool and endpoint picker, scheduling by tier, and its servers (single-node, multi-node, prefill/decode) and their autoscaling."""
