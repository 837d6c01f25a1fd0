"""EdgeLab lab kit shared by the notebooks and the CLI."""

__version__ = "0.1.0"
