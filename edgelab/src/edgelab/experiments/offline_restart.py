"""An edge node restarts while it is cut off: do its pods come back before the WAN does?

The restart (`playbooks/restart-edge.yml`) stops the node agent and kills every container on
the node, as a power cut would, and starts the agent again; the link stays cut.

- KubeEdge: EdgeCore's MetaManager keeps the pods it was given in a local SQLite database, so
  edged starts them again from there: the edge cache answers again while still offline.
- K3s: the agent asks the API server (through its load balancer on the cloud node) for its
  pods and cannot reach it; it does not start the edge cache until the link is back.

`judge_offline_restart` (pure) compares what was observed with what the flavor implies;
`OfflineRestart` (thin) is the experiment's `disruption`: it runs the restart and then polls
the edge's ``/_edge/status`` until it answers or the window ends (before the link comes back).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

EXPECT_BACK_OFFLINE = {"kubeedge": True, "k3s": False}


@dataclass(frozen=True, slots=True)
class RestartVerdict:
    passed: bool
    expected_back: bool | None
    message: str


def judge_offline_restart(flavor: str, answered_offline: bool,
                          answered_after_s: float | None = None,
                          restart_error: str | None = None) -> RestartVerdict:
    """Did the edge behave as its flavor implies after restarting offline?"""
    if restart_error:
        return RestartVerdict(False, EXPECT_BACK_OFFLINE.get(flavor),
                              f"the restart itself failed: {restart_error}")
    expected = EXPECT_BACK_OFFLINE.get(flavor)
    if expected is None:
        return RestartVerdict(False, None, f"unknown cluster flavor {flavor!r} (k3s or kubeedge)")
    if expected and answered_offline:
        return RestartVerdict(True, True, f"KubeEdge: the edge cache answered again "
                              f"{answered_after_s or 0:.0f} s after the restart, still offline "
                              "(EdgeCore restarted it from MetaManager's local metadata)")
    if expected:
        return RestartVerdict(False, True, "KubeEdge: the edge cache did not come back while "
                              "offline; check `journalctl -u edgecore` on the edge (metaManager "
                              "enabled? the pod in /var/lib/kubeedge/edgecore.db?)")
    if not answered_offline:
        return RestartVerdict(True, False, "K3s: the edge cache stayed down while offline (the "
                              "agent cannot get its pods without the API server); it came back "
                              "with the link")
    return RestartVerdict(False, False, "K3s: the edge cache answered while offline after the "
                          "restart: were its containers really killed (k3s-killall.sh)?")


class OfflineRestart:
    """The experiment's `disruption`: restart the edge node, then watch its edge cache.

    `restart` runs the playbook; `window_s` bounds how long we watch (it must end before the
    link is restored, or the K3s case would come back for the wrong reason)."""

    def __init__(self, restart: Callable[[], object], edge_url: str, window_s: float,
                 poll_s: float = 1.0) -> None:
        self.restart = restart
        self.edge_url = edge_url
        self.window_s = window_s
        self.poll_s = poll_s
        self.restart_s: float | None = None
        self.answered_after_s: float | None = None
        self.error: str | None = None
        self.went_down = False

    def __call__(self) -> None:
        start = time.monotonic()
        try:
            self.restart()
        except Exception as exc:  # the playbook's failure is a result, not a crash
            self.error = str(exc)[:500]
            return
        self.restart_s = time.monotonic() - start
        # the playbook returns only after it saw the edge cache's port closed on the node
        self.went_down = True
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() - start < self.window_s:
                try:
                    if client.get(self.edge_url + "/_edge/status").status_code == 200:
                        self.answered_after_s = time.monotonic() - start
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(self.poll_s)

    @property
    def answered_offline(self) -> bool:
        return self.answered_after_s is not None

    def summary(self) -> dict[str, Any]:
        return {"restart_s": self.restart_s, "answered_offline": self.answered_offline,
                "answered_after_s": self.answered_after_s, "went_down": self.went_down,
                "window_s": self.window_s, "error": self.error}
