"""The thin `kubectl` layer: run one command with a deadline, read its JSON, name its failure.

Only I/O lives here. What the JSON means (node Ready, taints, pod phase, who holds a lease) is
decided by pure functions elsewhere (`experiments.control_plane`, `targets.lease`), so those are
tested against recorded `kubectl ... -o json` documents, and this layer against a fake
`kubectl` executable on ``PATH``.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgelab.targets.base import TargetError

# `kubectl` prints API errors as "Error from server (Reason): ..."
_REASON = re.compile(r"Error from server \((\w+)\)")


class KubectlError(TargetError):
    """A kubectl command failed; `reason` is the API's reason (NotFound, Conflict, …) if any."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Kubectl:
    """`kubectl` with this lab's kubeconfig and namespace, every call with a deadline."""

    kubeconfig: Path | None = None
    namespace: str = "edgelab"
    binary: str = "kubectl"
    timeout_s: float = 10.0

    def command(self, args: Sequence[str], *, namespaced: bool = True) -> list[str]:
        cmd = [self.binary]
        if self.kubeconfig is not None:
            cmd += ["--kubeconfig", str(self.kubeconfig)]
        cmd.append(f"--request-timeout={max(1, int(self.timeout_s))}s")
        if namespaced:
            cmd += ["--namespace", self.namespace]
        return [*cmd, *args]

    def run(self, args: Sequence[str], *, stdin: str | None = None,
            namespaced: bool = True) -> str:
        """stdout of ``kubectl <args>``; `KubectlError` (with the API's reason) otherwise."""
        cmd = self.command(args, namespaced=namespaced)
        try:
            done = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                                  timeout=self.timeout_s + 5.0, check=False)
        except FileNotFoundError:
            raise KubectlError(f"{self.binary} not found on PATH: install kubectl (the cluster "
                               "target's control-plane sampler and edge leases use it)") from None
        except subprocess.TimeoutExpired:
            raise KubectlError(f"kubectl {' '.join(args)} did not answer within "
                               f"{self.timeout_s + 5.0:g} s; is the API server reachable?",
                               reason="Timeout") from None
        if done.returncode != 0:
            err = (done.stderr or done.stdout).strip()
            match = _REASON.search(err)
            first = err.splitlines()[0][:300] if err else f"exit status {done.returncode}"
            raise KubectlError(f"kubectl {' '.join(args)}: {first}",
                               reason=match.group(1) if match else "")
        return done.stdout

    def get_json(self, args: Sequence[str], *, namespaced: bool = True) -> dict[str, Any]:
        """``kubectl get <args> -o json`` as a dict."""
        out = self.run(["get", *args, "-o", "json"], namespaced=namespaced)
        try:
            doc = json.loads(out)
        except json.JSONDecodeError as exc:
            raise KubectlError(f"kubectl get {' '.join(args)}: not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise KubectlError(f"kubectl get {' '.join(args)}: expected a JSON object")
        return doc

    def apply_json(self, verb: str, obj: dict[str, Any]) -> dict[str, Any]:
        """``kubectl create|replace -f - -o json`` with `obj`; the object the API returned."""
        out = self.run([verb, "-f", "-", "-o", "json"], stdin=json.dumps(obj))
        try:
            doc = json.loads(out)
        except json.JSONDecodeError as exc:
            raise KubectlError(f"kubectl {verb}: not JSON ({exc})") from exc
        return doc if isinstance(doc, dict) else {}
