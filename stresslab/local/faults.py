"""Faults carried out on the bundled reference service through its admin API."""

from __future__ import annotations

from typing import Any

import aiohttp

from stresslab.spec import FaultSpec


class FaultInjectionFailed(RuntimeError):
    """The target refused or could not be asked to inject a fault."""


class ReferenceTargetFaults:
    """FaultInjector for `stresslab target`: POST/DELETE /admin/faults."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers) as session:
            async with session.request(method, self._base + path, json=body) as response:
                payload = await response.json(content_type=None)
                if response.status >= 300:
                    raise FaultInjectionFailed(f"{method} {path}: {response.status} {payload}")
                return payload

    async def inject(self, fault: FaultSpec) -> str:
        body: dict[str, Any] = {
            "type": fault.type, "intensity": fault.intensity, "duration_s": fault.duration,
        }
        if fault.target:
            body["agent"] = fault.target
        answer = await self._call("POST", "/admin/faults", body)
        return str(answer["fault_id"])

    async def clear(self, fault_id: str) -> None:
        try:
            await self._call("DELETE", f"/admin/faults/{fault_id}")
        except FaultInjectionFailed as error:
            if " 404 " not in str(error):  # already expired by its own duration
                raise

    async def clear_all(self) -> None:
        await self._call("DELETE", "/admin/faults")
