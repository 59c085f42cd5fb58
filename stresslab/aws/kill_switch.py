"""KillSwitch: an SSM String parameter, 'off', a run id or 'all', read at most once a second."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

OFF = "off"
ALL = "all"


class KillSwitch:
    def __init__(
        self, client: Any, parameter_name: str, max_age_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._name = parameter_name
        self._max_age = max_age_s
        self._clock = clock
        self._value = OFF
        self._read_at: float | None = None

    def value(self) -> str:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._max_age:
            response = self._client.get_parameter(Name=self._name)
            self._value = str(response["Parameter"]["Value"]).strip() or OFF
            self._read_at = now
        return self._value

    def stops(self, run_id: str) -> bool:
        value = self.value()
        return value == ALL or value == run_id

    def trip(self, run_id: str) -> None:
        """Name the run, unless every run is already stopped ('all' stays 'all')."""
        self._read_at = None
        if self.value() == ALL:
            return
        self._client.put_parameter(Name=self._name, Value=run_id, Type="String", Overwrite=True)
        self._value, self._read_at = run_id, self._clock()

    def reset(self) -> None:
        self._client.put_parameter(Name=self._name, Value=OFF, Type="String", Overwrite=True)
        self._value, self._read_at = OFF, self._clock()
