"""Services: pure functions over a SQLAlchemy Session (no HTTP). Callers own the transaction:
use `Database.write()` for anything that changes data, `Database.read()` otherwise."""
