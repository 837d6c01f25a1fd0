"""A fake `kubectl` executable for the cluster target's thin layer (no cluster here).

`install(bin_dir, state_dir)` writes an executable ``kubectl`` into `bin_dir` that answers from
files in `state_dir`:

- ``get nodes -o json`` / ``get pods ... -o json``: the next file of ``nodes.seq`` /
  ``pods.seq`` (a JSON list of file names of recorded documents; the last one repeats);
- ``get lease NAME -o json``, ``create -f -``, ``replace -f -``: a Lease kept in
  ``leases/NAME.json`` with a resourceVersion that grows on every write; a stale
  resourceVersion is refused with the API's Conflict message, an existing name on create with
  AlreadyExists, a missing lease with NotFound (the messages kubectl prints);
- every call's argv is appended to ``calls.jsonl``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

SCRIPT = r'''#!{python}
import json, os, sys
from pathlib import Path
state = Path({state!r})
argv = sys.argv[1:]
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps(argv) + "\n")
args = [a for a in argv if not a.startswith("--request-timeout")]
for flag in ("--kubeconfig", "--namespace"):
    while flag in args:
        i = args.index(flag)
        del args[i:i + 2]
if (state / "fail").exists():
    sys.stderr.write((state / "fail").read_text())
    sys.exit(1)

def serve(kind):
    seq = json.loads((state / f"{{kind}}.seq").read_text())
    counter = state / f"{{kind}}.n"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    sys.stdout.write((state / seq[min(n, len(seq) - 1)]).read_text())

leases = state / "leases"
leases.mkdir(exist_ok=True)
if args[:2] == ["get", "nodes"]:
    serve("nodes")
elif args[:2] == ["get", "pods"]:
    serve("pods")
elif args[:2] == ["get", "lease"]:
    path = leases / f"{{args[2]}}.json"
    if not path.exists():
        sys.stderr.write("Error from server (NotFound): "
                         f'leases.coordination.k8s.io "{{args[2]}}" not found\n')
        sys.exit(1)
    sys.stdout.write(path.read_text())
elif args[0] in ("create", "replace"):
    obj = json.loads(sys.stdin.read())
    name = obj["metadata"]["name"]
    path = leases / f"{{name}}.json"
    if args[0] == "create" and path.exists():
        sys.stderr.write('Error from server (AlreadyExists): error when creating "STDIN": '
                         f'leases.coordination.k8s.io "{{name}}" already exists\n')
        sys.exit(1)
    if args[0] == "replace":
        old = json.loads(path.read_text())
        if obj["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
            sys.stderr.write(
                'Error from server (Conflict): error when replacing "STDIN": Operation cannot '
                f'be fulfilled on leases.coordination.k8s.io "{{name}}": the object has been '
                "modified; please apply your changes to the latest version and try again\n")
            sys.exit(1)
        version = int(old["metadata"]["resourceVersion"]) + 1
    else:
        version = 1
    obj["metadata"]["resourceVersion"] = str(version)
    path.write_text(json.dumps(obj))
    sys.stdout.write(json.dumps(obj))
else:
    sys.stderr.write("error: unknown command for the fake kubectl: " + " ".join(args) + "\n")
    sys.exit(1)
'''


def install(bin_dir: Path, state_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "kubectl"
    exe.write_text(SCRIPT.format(python=sys.executable, state=str(state_dir)))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def calls(state_dir: Path) -> list[list[str]]:
    path = state_dir / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def path_with(bin_dir: Path) -> str:
    return os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
