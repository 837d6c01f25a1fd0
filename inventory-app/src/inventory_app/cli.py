"""`inventory-app` command line: serve, migrate, seed-demo, create-token, list-tokens,
revoke-token, end-sessions, rebuild-balances."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from inventory_app.settings import Settings


def _db(settings: Settings):  # type: ignore[no-untyped-def]
    from inventory_app.db import Database

    return Database(settings.resolved_database_url())


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from inventory_app.main import create_app

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    app = create_app(settings)
    # the app logs each request itself (one JSON line); uvicorn's own access log stays off
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=10)
    return 0


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from inventory_app.migrate import upgrade

    url = settings.resolved_database_url()
    upgrade(url)
    print(f"database migrated to the newest schema ({_safe(url)})")
    return 0


def cmd_seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from inventory_app.demo_data import already_seeded, seed

    db = _db(settings)
    started = time.monotonic()
    with db.write() as session:
        if already_seeded(session):
            print("the database already holds users; demo data not added (use a fresh database)")
            return 0
        with tqdm(total=args.days, desc="demo history (days)", file=sys.stderr,
                  disable=not sys.stderr.isatty()) as bar:
            result = seed(session, seed_value=args.seed, days=args.days,
                          product_count=args.products, progress=lambda _d: bar.update(1))
    elapsed = time.monotonic() - started
    print(f"demo data: {result.products} products, {result.documents} posted documents, "
          f"4 warehouses (CENTRAL, SHOP-1..3) in {elapsed:.1f}s")
    print("users (DEMO ONLY, password = user name): admin/admin, clerk/clerk, viewer/viewer")
    for code, token in result.device_tokens.items():
        print(f"device token {code}: {token}")
    print(f"admin API token: {result.admin_token}")
    return 0


def cmd_create_token(args: argparse.Namespace, settings: Settings) -> int:
    from inventory_app.services.auth import create_token

    db = _db(settings)
    with db.write() as session:
        token = create_token(session, role=args.role, name=args.name,
                             warehouse_code=args.warehouse)
    print(f"created {args.role} token {args.name!r} (shown once; only its digest is stored)")
    print(token)
    return 0


def cmd_list_tokens(_args: argparse.Namespace, settings: Settings) -> int:
    from inventory_app.services.auth import list_tokens

    db = _db(settings)
    with db.read() as session:
        rows = list_tokens(session)
        print(f"{'id':>5}  {'kind':<8} {'role':<7} {'state':<8} name")
        for row in rows:
            state = "revoked" if row.revoked_at is not None else "live"
            print(f"{row.id:>5}  {row.kind:<8} {row.role:<7} {state:<8} {row.name}")
    return 0


def cmd_revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    from inventory_app.services.auth import revoke_token, revoke_tokens_named

    db = _db(settings)
    with db.write() as session:
        if args.id is not None:
            row = revoke_token(session, args.id)
            print(f"token {row.id} ({row.name!r}) is revoked")
            return 0
        rows = revoke_tokens_named(session, args.name)
    if not rows:
        print(f"inventory-app: no live token named {args.name!r}", file=sys.stderr)
        return 1
    print(f"revoked {len(rows)} token(s) named {args.name!r}: "
          + ", ".join(str(r.id) for r in rows))
    return 0


def cmd_end_sessions(args: argparse.Namespace, settings: Settings) -> int:
    from inventory_app.services.auth import end_sessions

    db = _db(settings)
    with db.write() as session:
        rows = end_sessions(session, args.user)
    print(f"ended {len(rows)} session(s) of {args.user!r}")
    return 0


def cmd_rebuild(_args: argparse.Namespace, settings: Settings) -> int:
    from inventory_app.services.stock import rebuild_balances

    db = _db(settings)
    with db.write() as session:
        report = rebuild_balances(session)
    if report.matched:
        print(f"rebuilt {report.rows} balances from the ledger: projection matched")
        return 0
    print(f"rebuilt {report.rows} balances from the ledger: projection did NOT match "
          f"({len(report.differences)} differences, now fixed)")
    for diff in report.differences[:20]:
        print(f"  {diff}")
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inventory-app",
        description="EdgeLab inventory app (进销存). Reads INVENTORY_DATABASE_URL / "
        "INVENTORY_DATA_DIR.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server (uvicorn)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="create/upgrade the schema (Alembic)").set_defaults(
        func=cmd_migrate)
    seed = sub.add_parser("seed-demo", help="add the deterministic demo data set")
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--days", type=int, default=21)
    seed.add_argument("--products", type=int, default=300)
    seed.set_defaults(func=cmd_seed_demo)
    token = sub.add_parser("create-token", help="create an API token (printed on the last line)")
    token.add_argument("--role", required=True, choices=["admin", "clerk", "viewer", "device"])
    token.add_argument("--name", required=True)
    token.add_argument("--warehouse", default=None, help="warehouse code (device tokens)")
    token.set_defaults(func=cmd_create_token)
    sub.add_parser("list-tokens", help="list API, session and device tokens (no secrets)"
                   ).set_defaults(func=cmd_list_tokens)
    revoke = sub.add_parser("revoke-token", help="revoke a token (by id, or every live token "
                            "with a name); edges learn it from the change feed")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, default=None)
    which.add_argument("--name", default=None)
    revoke.set_defaults(func=cmd_revoke_token)
    ends = sub.add_parser("end-sessions", help="log a user out everywhere (revoke all sessions)")
    ends.add_argument("--user", required=True, help="user name")
    ends.set_defaults(func=cmd_end_sessions)
    sub.add_parser("rebuild-balances", help="recompute balances from the ledger").set_defaults(
        func=cmd_rebuild)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic ValidationError: bad environment
        print(f"inventory-app: invalid settings: {exc}", file=sys.stderr)
        return 2
    from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

    from inventory_app.problems import ProblemError

    try:
        return int(args.func(args, settings))
    except ProblemError as exc:
        print(f"inventory-app: {exc.detail}", file=sys.stderr)
        return 1
    except (OperationalError, ProgrammingError) as exc:
        msg = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"inventory-app: database error: {msg} (did you run `inventory-app migrate`?)",
              file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"inventory-app: database error: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
