"""EdgeLab inventory app: the cloud system of record (进销存)."""

__version__ = "0.1.0"
