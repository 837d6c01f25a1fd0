"""One real local lab (cloud + 2 edges + 2 links) shared by the edgelab test modules.

Session-scoped because starting it costs seconds (demo data, tokens, five processes). Tests that
break it on purpose restore it themselves (e.g. `restart_edge`, or `up` again after a crash).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from edgelab.settings import LabSettings
from edgelab.targets.local import LocalTarget


def lab_settings(lab_dir: Path, **changes: object) -> LabSettings:
    """Free ports, a small demo catalogue, a generous readiness deadline."""
    base = LabSettings(lab_dir=lab_dir, app_port=0, edge_port=0, link_port=0,
                       link_control_port=0, demo_days=1, demo_products=60,
                       ready_timeout_s=60.0)
    return base.with_changes(**changes) if changes else base


@pytest.fixture(scope="session")
def session_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTarget]:
    target = LocalTarget(lab_settings(tmp_path_factory.mktemp("edgelab-lab") / "lab"))
    target.up()
    try:
        yield target
    finally:
        LocalTarget(lab_settings(target.lab_dir)).down()


@pytest.fixture
def local_lab(session_lab: LocalTarget) -> LocalTarget:
    """The session's lab, started again first if a test before this one stopped it (e.g. the
    crash-recovery test), whatever order the modules run in."""
    if not session_lab.is_up():
        session_lab.up()
    return session_lab
