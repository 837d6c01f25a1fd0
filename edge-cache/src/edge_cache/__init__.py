"""EdgeLab edge cache: RFC 9111 caching sidecar with offline autonomy."""

__version__ = "0.1.0"
