"""STUB command-line tools for the converge tests. They are NOT the real keadm/kubectl/nft/tc.

Each stub is a small shell script named `<tool>-STUB` that appends its arguments to
`<state>/<tool>.calls` (one call per line, arguments separated by the ASCII unit separator) and
emulates just enough behaviour for the role's control flow:

- keadm-STUB: `version` prints the pinned version; `init` marks CloudCore as installed;
  `gettoken` prints a fake token; `join` behaves like KubeEdge v1.23's keadm where the role
  depends on it: it refuses a non-empty /etc/kubeedge and a node CloudCore already knows (the
  real join asks CloudCore's :10002/node/<name>); it fails (leaving a half-written
  /etc/kubeedge, as an interrupted join does) while `<state>/join-failures` holds a count above
  zero; otherwise it writes /etc/kubeedge/config/edgecore.yaml under the edge's fixture root and
  registers the node with the stand-in cloud. `reset edge` empties the edge's /etc/kubeedge.
- kubectl-STUB: `get deployment cloudcore` fails until `keadm init` ran; `rollout status` succeeds;
  `get node X` / `delete node X` read and remove the stand-in cloud's node registry
  (`<state>/nodes/X`), which keadm join fills.
- nft-STUB / tc-STUB: keep the "loaded" ruleset and netem qdisc as files in the state directory,
  so `list table` / `qdisc show` report what an earlier `-f` / `qdisc replace` did.
- systemd-run-STUB: only records (there is no systemd here).
"""

from __future__ import annotations

from pathlib import Path

SEP = "\x1f"
FAKE_TOKEN = "0123456789abcdef0123456789abcdef.STUB-TOKEN-eyJhbGciOiJIUzI1NiJ9"

_RECORD = """#!/bin/sh
# STUB {tool}: test double, not the real tool. Records its arguments.
state={state}
for a in "$@"; do printf '%s\\037' "$a"; done >> "$state/{tool}.calls"
printf '\\n' >> "$state/{tool}.calls"
"""

_KEADM = """
# The edge's fixture root comes from --edgenode-name (join) or the KEADM_STUB_ROOT of this copy.
root="${{KEADM_STUB_ROOT:-}}"
case "$1" in
  version) echo 'version: version.Info{{Major:"1", GitVersion:"{version}", STUB:"true"}}' ;;
  init) touch "$state/cloudcore-installed"; echo "CloudCore started (STUB)" ;;
  gettoken) echo "{token}" ;;
  reset)
    if [ "$2" = edge ] && [ -n "$root" ]; then rm -rf "$root/etc/kubeedge"; fi
    echo "reset $2 (STUB)" ;;
  join)
    ipport=""
    name=""
    for a in "$@"; do
      case "$a" in
        --cloudcore-ipport=*) ipport="${{a#--cloudcore-ipport=}}" ;;
        --edgenode-name=*) name="${{a#--edgenode-name=}}" ;;
      esac
    done
    dir="{roots}/$name/etc/kubeedge"
    if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
      echo "keadm-STUB: $dir is not empty (as the real preflight check says)" >&2; exit 1
    fi
    if [ -e "$state/nodes/$name" ]; then
      echo "keadm-STUB: node already exists or internal error occurred, cannot register again" >&2
      exit 1
    fi
    failures=$(cat "$state/join-failures" 2>/dev/null || echo 0)
    if [ "$failures" -gt 0 ]; then
      echo $((failures - 1)) > "$state/join-failures"
      mkdir -p "$dir/ca"; echo partial > "$dir/ca/rootCA.crt"
      echo "keadm-STUB: failed to get CA certificate (simulated)" >&2; exit 1
    fi
    conf="$dir/config/edgecore.yaml"
    mkdir -p "$(dirname "$conf")" "$state/nodes"
    printf 'modules:\\n  edgeHub:\\n    websocket:\\n      server: %s\\n' "$ipport" > "$conf"
    touch "$state/nodes/$name"
    echo "EdgeCore joined (STUB)" ;;
  *) echo "keadm-STUB: unexpected $*" >&2; exit 2 ;;
esac
"""

_KUBECTL = """
case "$*" in
  *"get deployment cloudcore"*)
    if [ ! -e "$state/cloudcore-installed" ]; then
      echo 'Error from server (NotFound)' >&2; exit 1
    fi
    echo deployment.apps/cloudcore ;;
  *"rollout status"*) echo 'deployment "cloudcore" successfully rolled out' ;;
  *" get node "*|*" delete node "*)
    verb=""; name=""; seen=""
    for a in "$@"; do
      if [ "$seen" = node ] && [ -z "$name" ]; then name="$a"; fi
      case "$a" in get|delete) verb="$a" ;; node) seen=node ;; esac
    done
    if [ ! -e "$state/nodes/$name" ]; then
      if [ "$verb" = delete ]; then exit 0; fi
      echo "Error from server (NotFound): nodes \\"$name\\" not found" >&2; exit 1
    fi
    if [ "$verb" = delete ]; then rm -f "$state/nodes/$name"; echo "node \\"$name\\" deleted"
    else echo "node/$name"; fi ;;
  *) echo "kubectl-STUB: unexpected $*" >&2; exit 2 ;;
esac
"""

_NFT = """
case "$1" in
  list)
    if [ -e "$state/nft-table" ]; then cat "$state/nft-table"; else
      echo 'Error: No such file or directory' >&2; exit 1; fi ;;
  -f) cp "$2" "$state/nft-table" ;;
  delete) rm -f "$state/nft-table" ;;
esac
"""

_TC = """
case "$1 $2" in
  "qdisc show")
    echo 'qdisc prio 1: root refcnt 2 bands 3'
    if [ -e "$state/tc-netem" ]; then echo 'qdisc netem 30: parent 1:3 limit 10000'; fi ;;
  "qdisc replace") case "$*" in *netem*) touch "$state/tc-netem" ;; esac ;;
  "qdisc del") rm -f "$state/tc-netem" ;;
esac
exit 0
"""


def write_stubs(directory: Path, *, roots: Path, kubeedge_version: str) -> dict[str, Path]:
    """Write the STUB tools into `directory`; return {tool: path}."""
    directory.mkdir(parents=True, exist_ok=True)
    bodies = {
        "keadm": _KEADM.format(version=kubeedge_version, token=FAKE_TOKEN, roots=roots),
        "kubectl": _KUBECTL.format(),
        "nft": _NFT,
        "tc": _TC,
        "systemd-run": "",
    }
    paths = {}
    for tool, body in bodies.items():
        path = directory / f"{tool}-STUB"
        path.write_text(_RECORD.format(tool=tool, state=directory) + body)
        path.chmod(0o755)
        paths[tool] = path
    return paths


def write_edge_keadm(directory: Path, host: str, root: Path, shared: Path, name: str = "") -> Path:
    """A copy of the keadm STUB for one edge (its `reset edge` empties that edge's root)."""
    path = directory / f"keadm-{host}{name}-STUB"
    path.write_text(f"#!/bin/sh\nKEADM_STUB_ROOT={root} exec {shared} \"$@\"\n")
    path.chmod(0o755)
    return path


def calls(directory: Path, tool: str) -> list[list[str]]:
    """The recorded calls of a stub, each as its argument list."""
    log = directory / f"{tool}.calls"
    if not log.exists():
        return []
    return [line.split(SEP)[:-1] for line in log.read_text().splitlines() if line]
