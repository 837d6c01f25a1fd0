"""Graded values recomputed from the raw data files, hidden checks, and the code exercises.

The grader does not trust a notebook's own pass/fail. Right after each cell tagged
``raw-data`` (the experiment cells) the engine copies the CSV/JSON files the experiment wrote
into a sealed directory (:func:`seal`), before any later cell runs. The checks below are then
recomputed from those copies; where a recomputed check disagrees with the notebook's, the
recomputed one counts. Hidden checks exist only here. A code exercise is graded by calling the
student's function in a separate Python process on a copy of the sealed data and comparing
its answer with the value recomputed here.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from edgelab.analysis.outage import detection_delay
from edgelab.jsonio import read_json
from edgelab.labcheck.restore import Answer
from edgelab.notebook.answers import close

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
SEALED_SUFFIXES = (".csv", ".json")
EXERCISE_TIMEOUT_S = 60.0
READ_OK = (200, 304)
WRITE_OK = (200, 201, 202)


@dataclass
class Graded:
    name: str
    status: str
    message: str = ""
    detail: str = ""
    hint: str = ""
    hidden: bool = False
    source: str = ""  # the raw file(s) it was recomputed from


@dataclass
class Prediction:
    name: str
    predicted: Any
    measured: Any


def seal(results_dir: Path, sealed: Path) -> None:
    """Copy the raw data files (CSV, JSON except results.json) of ``results_dir``."""
    sealed.mkdir(parents=True, exist_ok=True)
    for path in results_dir.rglob("*"):
        if path.suffix in SEALED_SUFFIXES and path.name != "results.json" and path.is_file():
            copy = sealed / path.relative_to(results_dir)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)


class RawData:
    """The sealed files of one notebook run plus its parameters."""

    def __init__(self, sealed: Path, parameters: Mapping[str, Any]) -> None:
        self.dir = sealed
        self.parameters = dict(parameters)

    def has(self, name: str) -> bool:
        return (self.dir / name).is_file()

    def csv(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.dir / name)

    def json(self, name: str) -> dict[str, Any]:
        return read_json(self.dir / name) or {}


def parameter_values(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's parameter values: papermill's default source text, then ``given``."""
    values: dict[str, Any] = {}
    for name, text in defaults.items():
        try:
            values[name] = ast.literal_eval(str(text))
        except (ValueError, SyntaxError):
            values[name] = text
    values.update(given)
    return values


# ------------------------------------------------------------------ 03-disconnection

def _outage(requests: pd.DataFrame, summary: Mapping[str, Any]) -> pd.DataFrame:
    edge = requests[requests["variant"] == "edge"] if "variant" in requests else requests
    t_cut, t_restore = float(summary["t_cut"]), float(summary["t_restore"])
    return edge[(edge["t"] >= t_cut) & (edge["t"] < t_restore)]


def grade_03(raw: RawData) -> list[Graded]:
    if not (raw.has("requests.csv") and raw.has("summary.json")):
        return []
    src = "requests.csv, summary.json"
    requests, summary = raw.csv("requests.csv"), raw.json("summary.json")
    outage = _outage(requests, summary)
    reads = outage[outage["method"] == "GET"]
    writes = outage[outage["method"] != "GET"]
    share = float(reads["status"].isin(READ_OK).mean()) if len(reads) else 0.0
    minimum = float(raw.parameters.get("min_read_success", 0.5))
    offline_hits = int((reads["cache_status"] == "OFFLINE-HIT").sum())
    accepted = int(writes["status"].isin(WRITE_OK).sum())
    out = [
        Graded("reads served during the outage", PASSED if share >= minimum else FAILED,
               f"{share:.0%} of {len(reads)} reads answered (≥ {minimum:.0%})",
               detail=f"recomputed: {share:.3f}", source=src),
        Graded("offline hits", PASSED if offline_hits > 0 else FAILED,
               f"{offline_hits} OFFLINE-HIT answers", detail=f"recomputed: {offline_hits}",
               source=src),
        Graded("writes accepted during the outage",
               PASSED if len(writes) and accepted == len(writes) else FAILED,
               f"{accepted}/{len(writes)} writes accepted",
               detail=f"recomputed: {accepted}/{len(writes)} accepted", source=src),
    ]
    if raw.has("crash/writes.csv"):
        crash = raw.json("crash/summary.json") if raw.has("crash/summary.json") else {}
        if crash.get("queued_at_kill", 1) == 0:
            # nothing was queued when the edge was killed: the run cannot tell a durable
            # outbox from a lost one, so it is not graded either way
            out.append(Graded("queued writes survive kill -9 while offline", SKIPPED,
                              "no write was queued when the edge was killed",
                              detail="recomputed: queued_at_kill 0",
                              source="crash/summary.json"))
        else:
            out.append(_exactly_once("queued writes survive kill -9 while offline",
                                     raw.csv("crash/writes.csv"), "crash/writes.csv"))
    if raw.has("writes.csv"):
        out.append(_exactly_once("every write applied exactly once", raw.csv("writes.csv"),
                                 "writes.csv"))
        keys = writes.loc[writes["status"].isin(WRITE_OK), "idempotency_key"].dropna()
        out.append(Graded(
            "each accepted write has its own idempotency key",
            PASSED if keys.is_unique else FAILED,
            f"{len(keys)} distinct keys", hidden=True,
            hint="Two accepted writes shared a key: a replay could be taken for a duplicate.",
            source="requests.csv"))
    return out


def _lost(writes: pd.DataFrame) -> tuple[int, int, int, int]:
    """(accepted, lost, duplicated, unposted) of a verification's writes table."""
    acc = writes[writes["accepted"].astype(bool)]
    lost = int((~acc["applied"].astype(bool)).sum())
    applied = writes[writes["applied"].astype(bool)]
    posts = pd.to_numeric(applied["ledger_posts"], errors="coerce").fillna(0)
    return len(acc), lost, int((posts > 1).sum()), int((posts == 0).sum())


def _exactly_once(name: str, writes: pd.DataFrame, source: str) -> Graded:
    accepted, lost, dup, unposted = _lost(writes)
    ok = accepted > 0 and lost == dup == unposted == 0
    return Graded(name, PASSED if ok else FAILED,
                  f"{accepted} accepted writes, {lost} lost, {dup} duplicated",
                  detail=f"recomputed: lost {lost}, duplicated {dup}, unposted {unposted}",
                  source=source)


def measured_03(raw: RawData) -> dict[str, Any]:
    if not (raw.has("requests.csv") and raw.has("summary.json")):
        return {}
    requests, summary = raw.csv("requests.csv"), raw.json("summary.json")
    reads = _outage(requests, summary)
    reads = reads[reads["method"] == "GET"]
    return {
        "predicted_read_success": float(reads["status"].isin(READ_OK).mean()) if len(reads)
        else None,
        "predicted_drain_s": summary.get("drain_time_s"),
        "predicted_detection_s": detection_delay(requests, float(summary["t_cut"])),
        "predicted_lost_after_crash": _lost(raw.csv("crash/writes.csv"))[1]
        if raw.has("crash/writes.csv") else None,
    }


def exercise_03(raw: RawData, answers: Mapping[str, Answer]) -> list[Graded]:
    answer = next((a for a in answers.values() if a.kind == "exercise"), None)
    name = "exercise: detection delay"
    if answer is None:
        return []
    if not (raw.has("requests.csv") and raw.has("summary.json")):
        return [Graded(name, FAILED, detail="no requests.csv: the experiment did not run")]
    t_cut = float(raw.json("summary.json")["t_cut"])
    expected = detection_delay(raw.csv("requests.csv"), t_cut)
    got, error = call_student(answer.executed, "detection_delay", [t_cut],
                              data_dir=raw.dir, csv_name="requests.csv")
    ok = error is None and close(got, expected, 0.01)
    return [Graded(
        name, PASSED if ok else FAILED,
        f"your detection_delay() = {got} s, recomputed {expected} s" if ok else "",
        detail=error or f"your detection_delay() returned {got!r}; recomputed from "
        f"requests.csv: {expected!r}",
        hint="The first OFFLINE-HIT answer at or after t_cut, minus t_cut (edge rows only).",
        source="requests.csv")]


CHE_CASES = ((300, 10, 1.0), (1000, 50, 0.8), (300, 100, 1.2))  # the first one is shown
CHE_TOLERANCE = 0.005


def exercise_04(raw: RawData, answers: Mapping[str, Answer]) -> list[Graded]:
    """Che's approximation: the student's che_hit_ratio(n, C, s) on one visible and two
    hidden cases, against edgelab.analysis."""
    from edgelab.analysis.che import che_hit_ratio

    answer = next((a for a in answers.values() if a.kind == "exercise"), None)
    if answer is None:
        return []
    out = []
    for i, (n, size, skew) in enumerate(CHE_CASES):
        expected = che_hit_ratio(n, size, skew)
        got, error = call_student(answer.executed, "che_hit_ratio", [n, size, skew])
        ok = error is None and close(got, expected, CHE_TOLERANCE)
        case = f"N={n}, C={size}, s={skew:g}"
        out.append(Graded(
            "exercise: Che's approximation" + ("" if i == 0 else f" ({case})"),
            PASSED if ok else FAILED,
            f"your che_hit_ratio({n}, {size}, {skew:g}) = {got:.4f}, edgelab.analysis: "
            f"{expected:.4f}" if ok else "",
            detail=error or f"{case}: yours {got!r}, edgelab.analysis {expected:.4f}",
            hint="Solve Σ (1 − exp(−p_i T)) = C for T (bisection), then Σ p_i (1 − exp(−p_i T)); "
            "p_i ∝ 1/i^s over i = 1..N.", hidden=i > 0))
    return out


# ------------------------------------------------------------------ 04-cache-performance

def grade_04(raw: RawData) -> list[Graded]:
    if not raw.has("cache_sweep.csv"):
        return []
    table = raw.csv("cache_sweep.csv")
    ttl0 = table[table["ttl_s"] == 0]["hit_ratio"]
    out = [Graded("TTL 0 gives no fresh hits",
                  PASSED if ttl0.empty or float(ttl0.max()) == 0 else FAILED,
                  "no fresh hit with ttl 0", detail=f"recomputed max: {ttl0.max()}",
                  source="cache_sweep.csv")]
    if raw.has("requests.csv"):
        req = raw.csv("requests.csv")
        if "lru_band_low" in table:
            from edgelab.notebook.performance import compare

            tolerance = float(raw.parameters.get("tolerance", 0.05))
            verdict = compare(table, tolerance, requests=req)
            outside = [f"size {m.get('cache_size')}: {m.get('measured')}"
                       for m in verdict["model"] if not m["within"]]
            out.append(Graded(
                "matches an LRU cache", PASSED if verdict["matches_lru"] else FAILED,
                "every TTL > 0 point within its LRU replay band",
                detail="recomputed: outside the band: " + "; ".join(outside) if outside
                else "", source="cache_sweep.csv, requests.csv"))
        if {"phase", "cache_status"} <= set(req.columns):
            measured = req[req["phase"] == "measure"]
            hits = int((measured["cache_status"] == "HIT").sum())
            positive = table[table["ttl_s"] > 0]
            out.append(Graded(
                "fresh hits only where a TTL allows them",
                PASSED if (positive.empty or hits > 0) else FAILED,
                f"{hits} HIT answers in the sweep's requests", hidden=True,
                source="requests.csv"))
    return out


def measured_04(raw: RawData) -> dict[str, Any]:
    if not raw.has("cache_sweep.csv"):
        return {}
    table = raw.csv("cache_sweep.csv")
    positive = table[table["ttl_s"] > 0]
    big = positive[positive["cache_size"] == positive["cache_size"].max()] if len(positive) \
        else positive
    return {"predicted_hit_ratio": float(big["hit_ratio"].mean()) if len(big) else None}


# ------------------------------------------------------------------ 02-deploy

def grade_02(raw: RawData) -> list[Graded]:
    if not raw.has("browse.csv"):
        return []
    b = raw.csv("browse.csv")
    edge = b[b["via"] == "edge"]
    first = edge[edge["attempt"] == 1]
    again = edge[edge["attempt"] > 1]
    return [
        Graded("first request is a MISS", PASSED if (first["x_edge_cache"] == "MISS").all()
               and len(first) else FAILED, f"{len(first)} first requests", source="browse.csv"),
        Graded("repeats served by the cache",
               PASSED if again["x_edge_cache"].isin(["HIT", "REVALIDATED"]).all()
               and len(again) else FAILED, f"{len(again)} repeats", source="browse.csv"),
    ]


def measured_02(raw: RawData) -> dict[str, Any]:
    if not raw.has("browse.csv"):
        return {}
    b = raw.csv("browse.csv")
    hits = b[(b["via"] == "edge") & (b["x_edge_cache"] == "HIT")]["latency_ms"]
    cloud = b[b["via"] == "cloud"]["latency_ms"]
    return {"predicted_hit_ms": float(hits.median()) if len(hits) else None,
            "predicted_cloud_ms": float(cloud.median()) if len(cloud) else None}


def measured_01(raw: RawData) -> dict[str, Any]:
    if not raw.has("probes.csv"):
        return {}
    probes = raw.csv("probes.csv")
    links = probes[probes["part"].astype(str).str.startswith("link-")]["latency_ms"]
    return {"predicted_probe_ms": float(links.median()) if len(links) else None}


GRADERS: dict[str, Callable[[RawData], list[Graded]]] = {
    "02-deploy": grade_02, "03-disconnection": grade_03, "04-cache-performance": grade_04}
MEASURED: dict[str, Callable[[RawData], dict[str, Any]]] = {
    "01-install": measured_01, "02-deploy": measured_02, "03-disconnection": measured_03,
    "04-cache-performance": measured_04}
EXERCISES: dict[str, Callable[[RawData, Mapping[str, Answer]], list[Graded]]] = {
    "03-disconnection": exercise_03, "04-cache-performance": exercise_04}


def grade(stem: str, raw: RawData, answers: Mapping[str, Answer]) -> list[Graded]:
    """Recomputed and hidden checks plus graded exercises of one notebook run."""
    out: list[Graded] = []
    for fn in (GRADERS.get(stem),):
        if fn is not None:
            try:
                out += fn(raw)
            except Exception as exc:  # a malformed file fails the check, not the grader
                out.append(Graded("raw data readable", FAILED, detail=f"{type(exc).__name__}: "
                                  f"{exc}", hint="The experiment's CSV/JSON files are broken."))
    exercise = EXERCISES.get(stem)
    if exercise is not None:
        out += exercise(raw, answers)
    made = predictions(stem, raw, answers)
    if made:
        missing = [p.name for p in made if p.predicted is None]
        out.append(Graded("predictions made", FAILED if missing else PASSED,
                          f"predictions recorded before the runs: {len(made)}",
                          detail=f"not predicted: {', '.join(missing)}" if missing else "",
                          hint="Fill in the cells marked 'your prediction' before you run the "
                          "experiment (any value counts; being right is not graded)."))
    return out


def predictions(stem: str, raw: RawData, answers: Mapping[str, Answer]) -> list[Prediction]:
    """Each prediction the student made beside the value measured in this run."""
    given: dict[str, Any] = {}
    for answer in answers.values():
        if answer.kind != "prediction":
            continue
        for line in answer.executed.splitlines():
            name, _, value = line.partition(" = ")
            try:
                given[name.strip()] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                continue
        try:
            tree = ast.parse(answer.source)
        except SyntaxError:
            continue
        for node in tree.body:  # names left at their stub value
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                given.setdefault(node.targets[0].id, None)
    measured_fn = MEASURED.get(stem)
    try:
        measured = measured_fn(raw) if measured_fn else {}
    except Exception:
        measured = {}
    return [Prediction(n, v, measured.get(n)) for n, v in given.items()]


_CALL = """
import json, sys
namespace = {}
exec(compile(open("answer.py", encoding="utf-8").read(), "your exercise cell", "exec"), namespace)
func = namespace.get(sys.argv[1])
if func is None:
    print(json.dumps({"error": f"the exercise cell defines no function {sys.argv[1]}()"}))
    sys.exit(0)
args = json.loads(sys.argv[3])
if sys.argv[2]:
    import pandas as pd
    args = [pd.read_csv(sys.argv[2]), *args]
value = func(*args)
try:
    value = None if value is None else float(value)
except (TypeError, ValueError):
    value = repr(value)
print(json.dumps({"value": value}))
"""


def call_student(code: str, function: str, args: list[Any], *, data_dir: Path | None = None,
                 csv_name: str = "") -> tuple[Any, str | None]:
    """Call ``function(*args)`` from the student's exercise code in a fresh Python process
    (with ``csv_name``: ``function(pd.read_csv(csv_name), *args)`` on a copy of the data);
    returns (value, error)."""
    with tempfile.TemporaryDirectory(prefix="edgelab-exercise-") as tmp:
        work = Path(tmp)
        if csv_name and data_dir is not None:
            shutil.copy2(data_dir / csv_name, work / csv_name)
        (work / "answer.py").write_text(code, "utf-8")
        try:
            done = subprocess.run(
                [sys.executable, "-c", _CALL, function, csv_name, json.dumps(args)],
                cwd=work, capture_output=True, text=True, timeout=EXERCISE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return None, f"your {function}() did not return within {EXERCISE_TIMEOUT_S:g} s"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return None, f"your {function}() raised: {last}"
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None, "your exercise printed something that is not its answer"
        if "error" in result:
            return None, str(result["error"])
        return result.get("value"), None
