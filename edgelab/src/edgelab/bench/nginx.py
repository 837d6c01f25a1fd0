"""The nginx `proxy_cache` reference: configuration, start, stop."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgelab.process import ManagedProcess

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")


def find_nginx() -> str | None:
    """Debian's nginx binary, or any `nginx` on PATH."""
    for candidate in NGINX_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("nginx")


@dataclass(frozen=True)
class NginxConfig:
    listen_port: int
    origin_host: str
    origin_port: int
    workdir: Path
    timeout_s: float = 2.0
    workers: int = 1
    keys_zone_mb: int = 64


def render_nginx_conf(cfg: NginxConfig, run_as_root: bool | None = None) -> str:
    """nginx.conf for a caching reverse proxy in front of one origin (no global paths used).

    One worker (edge-cache is one process; both are pinned to the same CPU), no access log
    (edge-cache's request log is off in the bench too), descriptors of hot cache files kept
    open (`open_file_cache`; edge-cache serves hot entries from memory)."""
    if run_as_root is None:
        run_as_root = os.geteuid() == 0
    w = cfg.workdir
    t = f"{cfg.timeout_s:g}s"
    user = "user root;\n" if run_as_root else ""
    return f"""# Rendered by edgelab.bench.nginx: the reference cache for `edgelab bench`.
{user}daemon off;
master_process on;
worker_processes {cfg.workers};
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {w}/tmp/body;
    proxy_temp_path {w}/tmp/proxy;
    fastcgi_temp_path {w}/tmp/fastcgi;
    uwsgi_temp_path {w}/tmp/uwsgi;
    scgi_temp_path {w}/tmp/scgi;
    keepalive_requests 100000;
    # a hit opens the cache file; open_file_cache keeps the descriptors of hot files (the
    # usual tuning for hot objects: +20–40 % hits/s here). edge-cache keeps hot entries in
    # memory, so without it nginx would be measured with a handicap
    open_file_cache max=10000 inactive=60s;
    proxy_cache_path {w}/cache levels=1:2 keys_zone=edge:{cfg.keys_zone_mb}m max_size=2g
                     inactive=7d use_temp_path=off;
    upstream origin {{
        server {cfg.origin_host}:{cfg.origin_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{cfg.listen_port} backlog=4096;
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_lock on;
            proxy_cache_revalidate on;
            proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
            proxy_cache_background_update on;
            proxy_connect_timeout {t};
            proxy_read_timeout {t};
            proxy_send_timeout {t};
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


class NginxServer:
    """nginx running `render_nginx_conf(cfg)` in the foreground as a managed process."""

    def __init__(self, exe: str, cfg: NginxConfig, cpu: int | None = None) -> None:
        self.cfg = cfg
        self.exe = exe
        self.cpu = cpu
        for sub in ("cache", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            (cfg.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.conf_path = cfg.workdir / "nginx.conf"
        self.conf_path.write_text(render_nginx_conf(cfg))
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.listen_port}"

    def start(self, timeout_s: float = 20.0) -> None:
        self.proc = ManagedProcess(
            "nginx",
            [self.exe, "-p", str(self.cfg.workdir), "-c", str(self.conf_path), "-e", "stderr"],
            self.cfg.workdir / "nginx.out",
            cpu=self.cpu,
        )
        self.proc.wait_port("127.0.0.1", self.cfg.listen_port, timeout_s)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.proc is None:
            return []
        import psutil

        try:
            master = psutil.Process(self.proc.pid)
            return [master.pid, *(c.pid for c in master.children(recursive=True))]
        except psutil.Error:
            return []
