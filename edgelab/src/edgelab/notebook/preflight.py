"""Before running cluster notebooks: is there a kubeconfig, and does the cluster answer?"""

from __future__ import annotations

import os
from pathlib import Path


class ClusterUnavailable(RuntimeError):
    """No kubeconfig, or the API server cannot be reached: one clear message, nothing runs."""


def resolve_kubeconfig(explicit: str | os.PathLike[str] | None) -> Path:
    """The kubeconfig to use: the parameter, else ``$KUBECONFIG``, else ``~/.kube/config``."""
    candidates: list[tuple[str, str]] = []
    if explicit:
        candidates.append(("the kubeconfig parameter", str(explicit)))
    elif os.environ.get("KUBECONFIG"):
        first = os.environ["KUBECONFIG"].split(os.pathsep)[0]
        candidates.append(("$KUBECONFIG", first))
    else:
        candidates.append(("the default location", str(Path("~/.kube/config").expanduser())))
    source, path = candidates[0]
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise ClusterUnavailable(
            f"target=cluster needs a kubeconfig, but {source} points to {p}, which does not "
            "exist. Use the kubeconfig the cluster playbook wrote (playbooks/cluster.yml puts "
            "it in build/kubeconfig): pass -p kubeconfig PATH or set KUBECONFIG."
        )
    return p


def check_cluster(kubeconfig: Path, timeout_s: float = 5.0) -> str:
    """Ask the API server for its version; returns e.g. ``v1.32.5+k3s1``."""
    from kubernetes import client, config

    try:
        api_client = config.new_client_from_config(config_file=str(kubeconfig))
    except Exception as exc:
        raise ClusterUnavailable(f"cannot load kubeconfig {kubeconfig}: {exc}") from exc
    host = api_client.configuration.host
    try:
        info = client.VersionApi(api_client).get_code(_request_timeout=timeout_s)
    except Exception as exc:
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status > 0:
            what = (
                "rejected the kubeconfig's credentials"
                if status in (401, 403)
                else f"answered HTTP {status} {getattr(exc, 'reason', '')}".rstrip()
            )
            raise ClusterUnavailable(
                f"the cluster API server at {host} (from {kubeconfig}) {what}. Is this the "
                "kubeconfig the instructor's playbook wrote for this cluster?"
            ) from exc
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise ClusterUnavailable(
            f"the cluster API server at {host} (from {kubeconfig}) is unreachable: {reason}. "
            "Is the cluster up and is this machine on the lab network? "
            "Try the local target instead: --target local."
        ) from exc
    finally:
        api_client.close()
    return str(info.git_version)
