"""`edgelab bench`: edge-cache vs nginx proxy_cache, and the inventory app's API latency."""
