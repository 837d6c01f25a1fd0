"""Class mode on a real local lab: another student sells in the same warehouse during my
outage (receipts straight to the cloud). Per-warehouse verification then fails although my
writes were applied exactly once; per-document verification (`verify="document"`) passes.
The same run records the control plane through a fake `kubectl` on PATH (a real cluster is not
available here) and saves it beside the requests, drawn as a strip under the timeline."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest
from edgelab.experiments import disconnection
from edgelab.experiments.cloud import CloudClient
from edgelab.experiments.control_plane import ControlPlaneSampler
from edgelab.targets.kubectl import Kubectl
from edgelab.targets.local import LocalTarget
from edgelab.workload import OperationFactory

from tests.edgelab import fake_kubectl

pytestmark = pytest.mark.slow

RECORDED = Path(__file__).parent / "kubectl_json"
SHORT = {"outage_s": 3.0, "warmup_s": 1.5, "after_s": 1.0, "concurrency": 1,
         "clerk_rate_per_s": 10.0, "drain_timeout_s": 90.0, "warm_products": 40,
         "progress": False, "baseline": False}
SEED = 21


def other_student(lab: LocalTarget, edge: str) -> tuple[list[int], object]:
    """The 20 products my workload favours, and a disruption that receives 5 of each into my
    warehouse straight at the cloud, as another student's shop would."""
    endpoints, tokens = lab.endpoints(), lab.tokens()
    with CloudClient(endpoints.cloud, tokens.admin) as cloud:
        warehouse = cloud.warehouse_ids()[lab.warehouse_of(edge)]
        products = cloud.product_ids()
        supplier = cloud.supplier_id()
    hot = OperationFactory(SEED, products, {edge: [warehouse]}).by_popularity[:20]

    def receive() -> None:
        headers = {"Authorization": f"Bearer {tokens.admin}"}
        with httpx.Client(timeout=10.0) as client:
            for pid in hot:
                body = {"id": str(uuid.uuid4()), "type": "purchase_receipt", "post": True,
                        "warehouse_id": warehouse, "partner_id": supplier,
                        "lines": [{"product_id": pid, "qty": 5}]}
                r = client.post(endpoints.cloud + "/api/documents", json=body,
                                headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
                assert r.status_code in (200, 201), r.text

    return hot, receive


def test_another_student_breaks_the_warehouse_check_not_the_document_check(
    local_lab: LocalTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    edge = local_lab.edge_names()[0]
    hot, receive = other_student(local_lab, edge)

    shared = disconnection(local_lab, seed=SEED, disruption=receive,  # type: ignore[arg-type]
                           **SHORT)
    s = shared.summary
    touched = set(shared.writes.loc[shared.writes["applied"], "product_id"].dropna().astype(int))
    assert touched & set(hot), "the workload wrote none of the 20 most popular products"
    assert s["writes_lost"] == 0 and s["writes_duplicated"] == 0
    assert s["balance_mismatches"] > 0 and not s["verification_passed"]
    assert s["verification_scope"] == "warehouse"

    state = tmp_path / "kubectl"
    fake_kubectl.install(tmp_path / "bin", state)
    for name in ("nodes-online.json", "nodes-unreachable.json", "pods-online.json"):
        (state / name).write_text((RECORDED / name).read_text())
    (state / "nodes.seq").write_text(json.dumps(["nodes-online.json"] * 3
                                                + ["nodes-unreachable.json"]))
    (state / "pods.seq").write_text(json.dumps(["pods-online.json"]))
    monkeypatch.setenv("PATH", fake_kubectl.path_with(tmp_path / "bin"))
    sampler = ControlPlaneSampler(Kubectl(timeout_s=5), interval_s=0.5)
    # the recorded documents name their edge node shop-1, as the local lab names its edge
    assert edge == "shop-1"
    mine = disconnection(local_lab, seed=SEED + 1, disruption=receive, verify="document",
                         control_plane=sampler, **SHORT)  # type: ignore[arg-type]
    m = mine.summary
    assert m["verification_passed"], m["verification_reasons"]
    assert m["verification_scope"] == "document" and m["balances_checked"] == 0
    assert m["writes_queued"] > 0 and m["writes_lost"] == 0
    facts = m["control_plane"]["nodes"]["shop-1"]
    assert facts["edge_cache_same_pod"] is True
    assert m["control_plane"]["sampled"] >= 3

    out = mine.save(tmp_path / "results")
    plane = pd.read_csv(out / "control_plane.csv")
    assert set(plane["kind"]) == {"node", "pod"}
    assert plane["t"].max() > m["t_restore"]  # sampled through the outage and the drain
    assert "timeline_edge.png" in json.loads((out / "summary.json").read_text())["plots"]
