"""`edge-cache --help`, settings from the environment, and clear errors for bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from edge_cache.cli import main
from edge_cache.outbox.acked import AckMark
from edge_cache.policy import PolicyError, load_policies
from edge_cache.settings import ENV_VARS, Settings, SettingsError
from edge_cache.wiring import build

CLI = [sys.executable, "-m", "edge_cache.cli"]


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CACHE_")}
    clean.update(env)
    return subprocess.run(
        [*CLI, *args], env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def test_help_documents_every_variable() -> None:
    result = run_cli({}, "--help")
    assert result.returncode == 0
    for name, _, _ in ENV_VARS:
        assert f"EDGE_CACHE_{name}" in result.stdout
    assert "--host" in result.stdout and "--port" in result.stdout


def test_missing_origin_is_a_clear_error() -> None:
    result = run_cli({})
    assert result.returncode == 2
    assert "EDGE_CACHE_ORIGIN is required" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("EDGE_CACHE_PORT", "abc", "not an integer"),
        ("EDGE_CACHE_PORT", "70000", "not a TCP port"),
        ("EDGE_CACHE_MAX_BYTES", "-5", "must be >= 1"),
        ("EDGE_CACHE_ORIGIN_TIMEOUT", "soon", "not a number"),
        ("EDGE_CACHE_PROBE_FAILURES", "9", "must not exceed"),
        ("EDGE_CACHE_LOG_LEVEL", "loud", "debug|info|warning|error"),
        ("EDGE_CACHE_ACCESS_LOG", "maybe", "expected on/off"),
        ("EDGE_CACHE_POLICY_FILE", "/nonexistent/policy.yaml", "no such file"),
        ("EDGE_CACHE_CHANGES_PATH", "api/changes", "must start with '/'"),
        ("EDGE_CACHE_OUTBOX_ACKED_SYNC", "never", "lease|background"),
        ("EDGE_CACHE_OUTBOX_ACK_LEASE", "0", "must be >= 1"),
    ],
)
def test_bad_values_exit_2_with_the_variable_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv("EDGE_CACHE_ORIGIN", "http://127.0.0.1:9")
    monkeypatch.setenv("EDGE_CACHE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(name, value)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert name in err
    assert message in err


def test_bad_origin_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGE_CACHE_ORIGIN", "ftp://files")
    assert main([]) == 2
    assert "http(s)://host[:port]" in capsys.readouterr().err


def test_bad_policy_file_is_reported(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("routes:\n  - path: no-slash\n")
    result = run_cli(
        {
            "EDGE_CACHE_ORIGIN": "http://127.0.0.1:9",
            "EDGE_CACHE_DATA_DIR": str(tmp_path / "d"),
            "EDGE_CACHE_POLICY_FILE": str(policy),
        }
    )
    assert result.returncode == 2
    assert "'path' must be a string starting with '/'" in result.stderr


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    s = Settings.from_env({"EDGE_CACHE_ORIGIN": "http://127.0.0.1:8000/"}, port=9001)
    assert (s.host, s.port, s.origin) == ("127.0.0.1", 9001, "http://127.0.0.1:8000")
    assert s.origin_host == "127.0.0.1:8000"
    assert s.probe_path == "/healthz" and s.changes_path == ""
    assert not s.auth_enabled
    s2 = Settings.from_env(
        {"EDGE_CACHE_ORIGIN": "http://o", "EDGE_CACHE_DEVICE_TOKEN": "t", "EDGE_CACHE_PORT": ""}
    )
    assert s2.auth_enabled and s2.port == 8080
    with pytest.raises(SettingsError):
        Settings.from_env({"EDGE_CACHE_ORIGIN": "http://o", "EDGE_CACHE_HOT_ENTRIES": "-1"})


@pytest.mark.parametrize(("env", "reserved"), [
    ({}, 1024),
    ({"EDGE_CACHE_OUTBOX_ACK_LEASE": "7"}, 7),
    ({"EDGE_CACHE_OUTBOX_ACKED_SYNC": "background"}, 0),  # the reference: nothing ahead
])
async def test_outbox_durability_settings_reach_the_outbox(
    tmp_path: Path, env: dict[str, str], reserved: int
) -> None:
    settings = Settings.from_env(
        {"EDGE_CACHE_ORIGIN": "http://127.0.0.1:9", "EDGE_CACHE_DATA_DIR": str(tmp_path), **env})
    edge = build(settings, health=False)
    assert edge.outbox is not None
    edge.outbox.open()
    try:
        state = AckMark(tmp_path / "outbox.acked").read()  # what the outbox took at open
        assert state is not None and (state.acked, state.reserved) == (0, reserved)
    finally:
        await edge.outbox.close()


def test_policy_matching(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "default:\n  max_offline_stale: 60\n"
        "routes:\n"
        "  - path: /api/documents\n    methods: [post]\n    replay: parallel\n"
        "    affects: [/api/stock]\n"
        "  - path: /api/*/stock\n    ttl: 5\n"
        "  - path: /api/\n    max_offline_stale: 3600\n"
    )
    policies = load_policies(policy)
    doc = policies.for_request("POST", "/api/documents")
    assert (doc.replay, doc.affects, doc.max_offline_stale) == ("parallel", ("/api/stock",), 60)
    assert policies.for_request("GET", "/api/documents").max_offline_stale == 3600
    assert policies.for_request("GET", "/api/warehouses/stock").ttl == 5
    assert policies.for_request("GET", "/other").max_offline_stale == 60
    for bad in (
        "routes: 5",
        "routes:\n  - path: /x\n    ttl: -1",
        "routes:\n  - path: /x\n    zap: 1",
        "routes:\n  - path: /x\n    replay: random",
        "[unclosed",
    ):
        policy.write_text(bad)
        with pytest.raises(PolicyError):
            load_policies(policy)


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli(
        {"EDGE_CACHE_ORIGIN": "http://127.0.0.1:9", "EDGE_CACHE_DATA_DIR": str(blocker / "sub")}
    )
    assert result.returncode == 2
    assert "cannot create the data directory" in result.stderr
