"""Shared test support: real servers (PostgreSQL) and free ports."""
