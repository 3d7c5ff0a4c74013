"""The gateway: the Gateway and its CRDs and routing, the catch-all 404, the model list."""
