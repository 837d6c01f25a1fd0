"""HTTP API of the inventory app (routers, dependencies, middleware)."""
