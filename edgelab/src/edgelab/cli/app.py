"""The `edgelab` command line: parser and command implementations."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape

from edgelab.cli import arguments as a
from edgelab.cli.output import cell, console, error_console, health_table, kv_table, print_json
from edgelab.process import ProcessError
from edgelab.settings import LabSettings, SettingsError
from edgelab.targets.base import TargetError, UnknownEdgeError

EPILOG = """\
examples:
  edgelab up                          cloud + 2 edge caches + 2 link emulators (./build/lab/local)
  edgelab status                      parts, ports, online state, outbox depth, hit ratio
  edgelab link shop-1 down --mode blackhole
  edgelab link shop-1 degrade --latency-ms 80 --jitter-ms 10 --loss 0.01 --rate-kbit 2000
  edgelab link shop-1 up
  edgelab run disconnection --outage 20
  edgelab run cache-sweep
  edgelab down                        stop every lab under ./build/lab (also after a crash)

environment: EDGELAB_LAB_DIR, EDGELAB_RESULTS_DIR, EDGELAB_EDGES, EDGELAB_APP_PORT,
EDGELAB_EDGE_PORT, EDGELAB_LINK_PORT, EDGELAB_LINK_CONTROL_PORT, EDGELAB_STRICT_PORTS,
EDGELAB_READY_TIMEOUT_S, EDGELAB_TARGET, EDGELAB_KUBECONFIG, EDGELAB_INVENTORY, EDGELAB_SEED
(see edgelab/src/edgelab/settings.py); EDGELAB_DEBUG=1 shows tracebacks. Exit status: 0 ok,
1 failure (e.g. verification failed, lab not running), 2 bad arguments, 130 interrupted.
"""


class CommandError(Exception):
    """A failure the CLI reports as one line and exit status `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- parser


def _common(target: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document instead of tables")
    parent.add_argument("--lab-dir", type=Path, default=argparse.SUPPRESS,
                        help="local lab directory (default: $EDGELAB_LAB_DIR or "
                        "./build/lab/local, where the notebooks start theirs)")
    if target:
        parent.add_argument("--target", choices=["local", "cluster"], default=argparse.SUPPRESS,
                            help="local lab (default) or a K3s/KubeEdge cluster")
        parent.add_argument("--kubeconfig", type=Path, default=argparse.SUPPRESS,
                            help="cluster target: kubeconfig file (default: ~/.kube/config)")
        parent.add_argument("--inventory", type=Path, default=argparse.SUPPRESS,
                            help="cluster target: Ansible inventory (groups cloud, edge)")
    return parent


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (the first word that is not an option or its value)."""
    takes_value = {"--lab-dir", "--target", "--kubeconfig", "--inventory"}
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in takes_value:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `edgelab` parser. The options of `bench` and `check` come from their packages,
    which are imported only when `command` is that subcommand (they are heavy)."""
    parser = argparse.ArgumentParser(
        prog="edgelab",
        description="EdgeLab lab kit: run the local lab (cloud app, edge caches, WAN link "
        "emulators), cut and degrade links, run experiments, benchmarks and notebook checks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--lab-dir", type=Path, default=None, help="local lab directory")
    parser.add_argument("--target", choices=["local", "cluster"], default=None,
                        help="local lab (default) or a cluster")
    parser.add_argument("--kubeconfig", type=Path, default=None, help="cluster kubeconfig")
    parser.add_argument("--inventory", type=Path, default=None, help="cluster Ansible inventory")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("up", parents=[_common()], help="start the local lab",
                       description="Start the cloud app (SQLite, demo data), N edge caches and "
                       "one link emulator per edge as background processes; stops a crashed "
                       "previous run first. Logs: <lab>/logs/<part>.log.")
    p.add_argument("--edges", type=a.positive_int, default=None,
                   help="number of edge caches shop-1..shop-N (default 2)")
    p.add_argument("--app-port", type=a.port, default=None, help="cloud app port (default 8000)")
    p.add_argument("--edge-port", type=a.port, default=None, help="first edge port (8080)")
    p.add_argument("--link-port", type=a.port, default=None, help="first link port (9000)")
    p.add_argument("--link-control-port", type=a.port, default=None,
                   help="first link control port (9100)")
    p.add_argument("--strict-ports", action="store_true",
                   help="fail when a port is in use instead of taking the next free one "
                   "(implied by any --*-port option)")
    p.add_argument("--restart", action="store_true",
                   help="stop a running lab first (default: report it and leave it running)")
    p.add_argument("--edge-env", type=a.edge_env, action="append", default=[],
                   metavar="[EDGE:]NAME=VALUE",
                   help="extra edge-cache setting, e.g. shop-1:MAX_ENTRIES=100 (repeatable)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", parents=[_common()], help="stop the local lab",
                       description="Stop every process of the local lab (SIGTERM, then SIGKILL), "
                       "also after a crash. Only processes recorded by this lab are touched; "
                       "data and logs stay. Without --lab-dir (and EDGELAB_LAB_DIR), every lab "
                       "under ./build/lab is stopped (the notebooks', `edgelab check` runs', "
                       "cache sweeps') and each one is named.")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", parents=[_common(target=True)], help="show the lab's parts",
                       description="A table of parts: kind, URL/port, pid or node, health, "
                       "online state, outbox depth and cache hit ratio.")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("link", parents=[_common(target=True)],
                       help="cut, degrade or restore a link",
                       description="Control the WAN link between one edge and the cloud.")
    p.add_argument("edge", help="edge name, e.g. shop-1")
    lsub = p.add_subparsers(dest="action", metavar="ACTION")
    lsub.required = True
    lp = lsub.add_parser("up", parents=[_common(target=True)],
                         help="restore the link (no impairment)")
    lp.set_defaults(func=cmd_link)
    lp = lsub.add_parser("down", parents=[_common(target=True)], help="cut the link")
    lp.add_argument("--mode", choices=["refuse", "blackhole"], default="refuse",
                    help="refuse: connections reset; blackhole: accepted, never answered")
    lp.set_defaults(func=cmd_link)
    lp = lsub.add_parser("degrade", parents=[_common(target=True)],
                         help="add latency, jitter, loss, a rate limit")
    lp.add_argument("--latency-ms", type=a.non_negative, default=0.0,
                    help="one-way delay added in each direction, ms (>= 0)")
    lp.add_argument("--jitter-ms", type=a.non_negative, default=0.0, help="jitter, ms (>= 0)")
    lp.add_argument("--loss", type=a.fraction, default=0.0, help="loss fraction 0..1")
    lp.add_argument("--rate-kbit", type=a.positive, default=None, help="rate limit, kbit/s (> 0)")
    lp.set_defaults(func=cmd_link)
    lp = lsub.add_parser("state", parents=[_common(target=True)], help="print the link's state")
    lp.set_defaults(func=cmd_link)

    p = sub.add_parser("seed", parents=[_common()], help="load the demo data into the cloud app",
                       description="Run `inventory-app seed-demo` on the local lab's database "
                       "(once per lab directory; `up` does it too).")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("run", help="run an experiment", description="Run an experiment, write "
                       "CSV/JSON/PNG to the results directory and print a summary.")
    rsub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    rsub.required = True
    rp = rsub.add_parser("disconnection", parents=[_common(target=True)],
                         help="cut the links while shops keep selling; verify exactly-once",
                         description="Warm up the caches, run the shop workload, cut every "
                         "edge's link for --outage seconds, restore, wait for the outboxes to "
                         "drain and verify against the cloud that every accepted write was "
                         "applied exactly once; then the same without cache (clients through "
                         "the link straight to the cloud). Exit 1 when verification fails.")
    rp.add_argument("--outage", type=a.positive, default=20.0, help="outage length, s (20)")
    rp.add_argument("--warmup", type=a.non_negative, default=5.0, help="warm-up, s (5)")
    rp.add_argument("--after", type=a.non_negative, default=5.0,
                    help="workload time after the link is restored, s (5)")
    rp.add_argument("--mode", choices=["refuse", "blackhole"], default="refuse",
                    help="how the link is cut")
    rp.add_argument("--edges", default=None, help="comma-separated edge names (default: all)")
    rp.add_argument("--concurrency", type=a.positive_int, default=4,
                    help="clerks per edge (4)")
    rp.add_argument("--clerk-rate", type=a.positive, default=2.0,
                    help="requests per second of one clerk: a think time of 1/rate after "
                    "each answer (2)")
    rp.add_argument("--rate", type=a.positive, default=None,
                    help="cap on the requests per second per edge (default: no cap)")
    rp.add_argument("--drain-timeout", type=a.positive, default=None,
                    help="deadline for the outboxes to drain, s (default: derived from what "
                    "was queued and the measured replay rate)")
    rp.add_argument("--no-baseline", action="store_true", help="skip the no-cache baseline")
    rp.add_argument("--seed", type=a.seed, default=None, help="workload seed")
    rp.add_argument("--results-dir", type=Path, default=None,
                    help="where to write results (default: $EDGELAB_RESULTS_DIR/disconnection-…)")
    rp.set_defaults(func=cmd_run_disconnection)

    rp = rsub.add_parser("cache-sweep", parents=[_common()],
                         help="hit ratio and latency vs TTL, cache size, skew, WAN latency",
                         description="For every combination of the lists, start a dedicated "
                         "edge cache (local lab processes), replay a seeded Zipf read workload "
                         "and measure hit ratio and latency next to the Che approximation.")
    rp.add_argument("--ttls", type=a.float_list, default=None,
                    help="freshness lifetimes, s, comma-separated (default 0,300)")
    rp.add_argument("--cache-sizes", type=a.int_list, default=None,
                    help="max cache entries, comma-separated (default 5,20,60)")
    rp.add_argument("--zipf", type=a.float_list, default=None,
                    help="Zipf exponents s, comma-separated (default 0.8,1.2)")
    rp.add_argument("--wan-latency-ms", type=a.float_list, default=None,
                    help="one-way WAN latency of the grid, ms, comma-separated (default 20)")
    rp.add_argument("--compare-wan-ms", type=a.float_list, default=None,
                    help="WAN latencies for the edge-vs-direct comparison (default 0,20,80)")
    rp.add_argument("--wan-loss", type=a.loss, default=None,
                    help="packet-loss fraction on the WAN link wherever a latency is set "
                    "(default 0)")
    rp.add_argument("--requests", type=a.positive_int, default=None,
                    help="measured requests per point (default 200, after 100 warm-up)")
    rp.add_argument("--seed", type=a.seed, default=None, help="workload seed")
    rp.add_argument("--results-dir", type=Path, default=None, help="where to write results")
    rp.set_defaults(func=cmd_run_cache_sweep)

    p = sub.add_parser("bench", help="edge-cache vs nginx benchmarks (edgelab.bench)",
                       description="Benchmarks: edge-cache vs nginx proxy_cache, inventory-app "
                       "latency; prints ratio tables.")
    if command == "bench":
        _delegate(p, "edgelab.bench", "add_arguments")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("check", help="execute the notebooks and evaluate their lab checks",
                       description="Run the notebooks headless (papermill) and print the ✔/✘ "
                       "table of their checks (edgelab.labcheck).")
    if command == "check":
        _delegate(p, "edgelab.labcheck", "add_arguments")
    p.set_defaults(func=cmd_check)
    return parser


def _delegate(parser: argparse.ArgumentParser, module: str, attr: str) -> None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return
    add = getattr(mod, attr, None)
    if callable(add):
        add(parser)


# --------------------------------------------------------------------------- helpers


def _settings(args: argparse.Namespace) -> LabSettings:
    s = LabSettings.from_env()
    changes: dict[str, Any] = {}
    if getattr(args, "lab_dir", None):
        changes["lab_dir"] = Path(args.lab_dir)
    if getattr(args, "target", None):
        changes["target"] = args.target
    if getattr(args, "kubeconfig", None):
        changes["kubeconfig"] = Path(args.kubeconfig).expanduser()
    if getattr(args, "inventory", None):
        changes["inventory"] = Path(args.inventory)
    return s.with_changes(**changes) if changes else s


def _want_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _local(args: argparse.Namespace) -> Any:
    from edgelab.targets.local import LocalTarget

    s = _settings(args)
    if s.target != "local":
        raise CommandError(f"`edgelab {args.command}` works on the local lab only")
    return LocalTarget.attach(settings=s)


def _target(args: argparse.Namespace) -> Any:
    s = _settings(args)
    if s.target == "cluster":
        from edgelab.targets.cluster import ClusterTarget

        return ClusterTarget(kubeconfig=s.kubeconfig, inventory=s.inventory, settings=s)
    from edgelab.targets.local import LocalTarget

    return LocalTarget.attach(settings=s)


def _bars(args: argparse.Namespace) -> bool:
    """tqdm progress bars only for humans at a terminal."""
    return not _want_json(args) and sys.stderr.isatty()


def _progress_printer(args: argparse.Namespace) -> Callable[[str], None]:
    err = error_console()

    def show(message: str) -> None:
        if not _want_json(args):
            err.print(f"[dim]…[/] {message}")

    return show


# --------------------------------------------------------------------------- commands


def cmd_up(args: argparse.Namespace) -> int:
    from edgelab.targets.local import LocalTarget, edge_name

    s = _settings(args)
    changes: dict[str, Any] = {}
    for field in ("app_port", "edge_port", "link_port", "link_control_port"):
        value = getattr(args, field)
        if value is not None:
            changes[field] = value
            changes["strict_ports"] = True
    if args.strict_ports:
        changes["strict_ports"] = True
    if args.edges is not None:
        changes["edges"] = args.edges
    s = s.with_changes(**changes) if changes else s
    names = {edge_name(i) for i in range(1, s.edges + 1)}
    common: dict[str, str] = {}
    per_edge: dict[str, dict[str, str]] = {}
    for edge, name, value in args.edge_env:
        if edge == "*":
            common[name] = value
        elif edge not in names:
            raise UnknownEdgeError(
                f"--edge-env names unknown edge {edge!r} (this lab will have: "
                f"{', '.join(sorted(names))})"
            )
        else:
            per_edge.setdefault(edge, {})[name] = value
    target = LocalTarget(s, edge_env=per_edge, common_edge_env=common,
                         progress=_progress_printer(args))
    if target.is_up() and not args.restart:
        if not _want_json(args):
            error_console().print(f"the lab in {target.lab_dir} is already running "
                                  "(`edgelab up --restart` starts it afresh)")
        return _print_status(args, LocalTarget.attach(settings=s), title="EdgeLab local lab")
    target.up()
    return _print_status(args, target, title="EdgeLab local lab is up")


def _lab_dir_chosen(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "lab_dir", None) or os.environ.get("EDGELAB_LAB_DIR"))


def _other_labs(s: LabSettings) -> list[Path]:
    """Labs under ./build/lab other than `s.lab_dir` (running or left behind by a crash)."""
    from edgelab.settings import LABS_ROOT
    from edgelab.targets.lab_state import find_labs

    own = s.lab_dir.expanduser().resolve()
    return [p for p in find_labs(Path(LABS_ROOT).resolve()) if p != own]


def cmd_down(args: argparse.Namespace) -> int:
    from edgelab.targets.local import LocalTarget

    s = _settings(args)
    dirs = [s.lab_dir] + ([] if _lab_dir_chosen(args) else _other_labs(s))
    report: list[dict[str, Any]] = []
    for lab_dir in dirs:
        target = LocalTarget(s.with_changes(lab_dir=lab_dir))
        stopped = target.down()
        if stopped or lab_dir == s.lab_dir:
            report.append({"lab_dir": str(target.lab_dir), "stopped": stopped})
    if _want_json(args):
        print_json(report[0] if len(report) == 1 else {"labs": report})
    else:
        for lab in report:
            what = ", ".join(lab["stopped"]) if lab["stopped"] else "nothing was running"
            console().print(f"EdgeLab local lab in {lab['lab_dir']} is down (stopped: {what})")
    return 0


def _print_status(args: argparse.Namespace, target: Any, title: str) -> int:
    rows = target.health()
    if _want_json(args):
        endpoints = target.endpoints()
        print_json({
            "target": type(target).__name__,
            "lab_dir": str(getattr(target, "lab_dir", "")),
            "cloud": endpoints.cloud,
            "edges": endpoints.edges,
            "parts": [r.to_json() for r in rows],
            "healthy": all(r.healthy for r in rows),
        })
    else:
        lab_dir = getattr(target, "lab_dir", None)
        if lab_dir is not None:  # whole, on its own line: a table title would cut a long path
            console().print(f"lab: {lab_dir}", soft_wrap=True, highlight=False)
        console().print(health_table(rows, title=title))
    return 0 if all(r.healthy for r in rows) else 1


def cmd_status(args: argparse.Namespace) -> int:
    from edgelab.targets.local import LabNotRunningError, LocalTarget

    s = _settings(args)
    if s.target != "local" or _lab_dir_chosen(args):
        return _print_status(args, _target(args), title="EdgeLab")
    running = [d for d in [s.lab_dir, *_other_labs(s)]
               if LocalTarget(s.with_changes(lab_dir=d)).is_up()]
    if not running:
        return _print_status(args, _target(args), title="EdgeLab")  # says where it looked
    if len(running) > 1 and not _want_json(args):
        error_console().print("running labs: " + ", ".join(str(d) for d in running)
                              + f" — showing {running[0]} (choose one with --lab-dir)")
    try:
        target = LocalTarget.attach(settings=s.with_changes(lab_dir=running[0]))
    except LabNotRunningError:
        return _print_status(args, _target(args), title="EdgeLab")
    return _print_status(args, target, title="EdgeLab local lab")


def cmd_link(args: argparse.Namespace) -> int:
    target = _target(args)
    names = target.edge_names()
    if args.edge not in names:
        raise UnknownEdgeError(f"unknown edge {args.edge!r} (this lab has: {', '.join(names)})")
    link = target.links()[args.edge]
    if args.action == "up":
        state = link.up()
    elif args.action == "down":
        state = link.down(args.mode)
    elif args.action == "degrade":
        state = link.degrade(args.latency_ms, args.jitter_ms, args.loss, args.rate_kbit)
    else:
        state = link.state()
    data = state.to_dict() if hasattr(state, "to_dict") else dict(state)
    if _want_json(args):
        print_json({"edge": args.edge, **data})
    else:
        if isinstance(data.get("since"), int | float):
            data["since"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(data["since"]))
        console().print(kv_table(data, title=f"link {args.edge}"))
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from edgelab.targets.local import LocalTarget

    target = LocalTarget(_settings(args))
    target.cloud_dir.mkdir(parents=True, exist_ok=True)
    target.migrate()
    loaded = target.seed()
    if _want_json(args):
        print_json({"lab_dir": str(target.lab_dir), "seeded": loaded})
    else:
        console().print("demo data loaded" if loaded else
                        f"demo data already loaded in {target.cloud_dir}")
    return 0


def cmd_run_disconnection(args: argparse.Namespace) -> int:
    from edgelab.experiments.disconnection import disconnection

    s = _settings(args)
    target = _target(args)
    edges = [e.strip() for e in args.edges.split(",")] if args.edges else None
    if not _want_json(args):
        error_console().print(
            f"disconnection: warm-up, {args.warmup:g} s workload, link down {args.outage:g} s, "
            f"{args.after:g} s after, drain ("
            + (f"≤ {args.drain_timeout:g} s" if args.drain_timeout else "deadline derived")
            + "), verify"
            + ("" if args.no_baseline else ", then the no-cache baseline") + " …")
    if edges:
        known = target.edge_names()
        unknown = [e for e in edges if e not in known]
        if unknown:
            raise UnknownEdgeError(
                f"unknown edge(s) {', '.join(unknown)} (this lab has: {', '.join(known)})"
            )
    result = disconnection(
        target,
        outage_s=args.outage,
        warmup_s=args.warmup,
        after_s=args.after,
        mode=args.mode,
        edges=edges,
        concurrency=args.concurrency,
        clerk_rate_per_s=args.clerk_rate,
        rate_per_s=args.rate,
        drain_timeout_s=args.drain_timeout,
        baseline=not args.no_baseline,
        seed=s.seed if args.seed is None else args.seed,
        progress=_bars(args),
    )
    out = result.save(args.results_dir or _results_dir(s, "disconnection"))
    summary = {**result.summary, "results_dir": str(out)}
    if _want_json(args):
        print_json(summary)
    else:
        console().print(kv_table(_flat_summary(summary), title="disconnection"))
        ok = result.summary.get("verification_passed")
        console().print("[green]verification passed[/]" if ok else "[red]verification FAILED[/]")
    return 0 if result.summary.get("verification_passed") else 1


def cmd_run_cache_sweep(args: argparse.Namespace) -> int:
    from edgelab.experiments.cache_sweep import cache_sweep

    s = _settings(args)
    kwargs: dict[str, Any] = {}
    for opt, key in (("ttls", "ttls"), ("cache_sizes", "cache_sizes"), ("zipf", "zipf_s"),
                     ("wan_latency_ms", "wan_latency_ms"), ("requests", "requests_per_point"),
                     ("compare_wan_ms", "compare_wan_ms"), ("wan_loss", "wan_loss")):
        if getattr(args, opt) is not None:
            kwargs[key] = getattr(args, opt)
    result = cache_sweep(s, seed=s.seed if args.seed is None else args.seed,
                         progress=_bars(args), **kwargs)
    out = result.save(args.results_dir or _results_dir(s, "cache-sweep"))
    if _want_json(args):
        print_json({"results_dir": str(out), "points": result.table.to_dict(orient="records")})
    else:
        from rich.table import Table

        table = Table(title=f"cache sweep → {out}")
        cols = ["ttl_s", "cache_size", "zipf_s", "wan_latency_ms", "hit_ratio",
                "che_hit_ratio", "latency_p50_ms", "latency_p95_ms"]
        for c in cols:
            table.add_column(c, justify="right")
        for rec in result.table.to_dict(orient="records"):
            table.add_row(*[cell(rec.get(c)) for c in cols])
        console().print(table)
    return 0


def _results_dir(s: LabSettings, name: str) -> Path:
    from edgelab.results import timestamped_dir

    return timestamped_dir(s.results_dir, name)


def _flat_summary(summary: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            for k, v in value.items():
                flat[f"{key}.{k}"] = v
        else:
            flat[key] = value
    return flat


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        bench = importlib.import_module("edgelab.bench")
    except ImportError as exc:
        raise CommandError(f"benchmarks are not available: {exc}") from exc
    run_all = getattr(bench, "run_all", None)
    if not callable(run_all):
        raise CommandError("benchmarks are not available yet (edgelab.bench.run_all missing)")
    rc = run_all(args)
    return int(rc or 0)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        labcheck = importlib.import_module("edgelab.labcheck")
    except ImportError as exc:
        raise CommandError(f"lab checks are not available: {exc}") from exc
    run = getattr(labcheck, "run", None)
    if not callable(run):
        raise CommandError("lab checks are not available yet (edgelab.labcheck.run missing)")
    return int(run(args) or 0)


# --------------------------------------------------------------------------- entry point


def _expected_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [CommandError, TargetError, ProcessError, SettingsError,
                                         ValueError, OSError]
    try:
        from edgelab.link.base import LinkError

        errors.append(LinkError)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(words))
    args = parser.parse_args(words)
    err = error_console()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        err.print("edgelab: interrupted")
        return 130
    except _expected_errors() as exc:
        if os.environ.get("EDGELAB_DEBUG"):
            raise
        message = str(exc) or type(exc).__name__
        err.print(f"[red]edgelab: error:[/] {escape(message)}", soft_wrap=True)
        return exc.code if isinstance(exc, CommandError) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
