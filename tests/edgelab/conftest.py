"""Fixtures shared by the edgelab test modules (add yours below; keep this file small)."""

from tests.edgelab.lab_fixtures import local_lab, session_lab

__all__ = ["local_lab", "session_lab"]
