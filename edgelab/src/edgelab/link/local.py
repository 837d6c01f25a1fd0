"""`LocalLink`: the `Link` interface over a local link emulator's HTTP control API."""

from __future__ import annotations

from typing import Any

import httpx

from edgelab.link.base import LinkError, LinkState, validate_degrade, validate_mode


class LocalLink:
    """Controls one `edgelab.link.emulator` process through its control URL (e.g.
    ``http://127.0.0.1:9100``). Methods are synchronous and return the new state."""

    def __init__(self, control_url: str, timeout_s: float = 5.0) -> None:
        self.control_url = control_url.rstrip("/")
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"LocalLink({self.control_url!r})"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> LinkState:
        url = f"{self.control_url}{path}"
        try:
            response = httpx.request(method, url, json=body, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise LinkError(
                f"link emulator control API at {self.control_url} unreachable: {exc}"
            ) from exc
        if response.status_code == 400:
            try:
                detail = str(response.json().get("detail", response.text))
            except ValueError:
                detail = response.text
            raise ValueError(detail)
        if response.status_code != 200:
            raise LinkError(
                f"link emulator at {self.control_url} answered {response.status_code} to "
                f"{method} {path}: {response.text[:200]}"
            )
        return LinkState.from_dict(response.json())

    def up(self) -> LinkState:
        return self._call("POST", "/link/up")

    def down(self, mode: str = "refuse") -> LinkState:
        return self._call("POST", "/link/down", {"mode": validate_mode(mode)})

    def degrade(
        self,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        loss: float = 0.0,
        rate_kbit: float | None = None,
    ) -> LinkState:
        latency, jitter, loss_f, rate = validate_degrade(latency_ms, jitter_ms, loss, rate_kbit)
        body = {"latency_ms": latency, "jitter_ms": jitter, "loss": loss_f, "rate_kbit": rate}
        return self._call("POST", "/link/degrade", body)

    def state(self) -> LinkState:
        return self._call("GET", "/link")

    def healthy(self) -> bool:
        """True when the emulator's control API answers `/healthz`."""
        try:
            response = httpx.get(f"{self.control_url}/healthz", timeout=self.timeout_s)
            return response.status_code == 200
        except httpx.HTTPError:
            return False
