"""`--otlp URL`: the run's exporter; its SDK (the extra `otlp`) is imported only when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stresslab.local.otlp_export import OtlpExporter

MISSING_SDK = "--otlp needs the OpenTelemetry SDK: pip install 'stresslab[otlp]'"


class OtlpUnavailable(Exception):
    """The SDK is not installed; the message is one line saying how to install it."""


def open_exporter(endpoint: str | None, scenario: str | None) -> OtlpExporter | None:
    """The exporter for a run of `scenario` (None: only check the SDK is there)."""
    if endpoint is None:
        return None
    try:
        from stresslab.local.otlp_export import OtlpExporter
    except ImportError:
        raise OtlpUnavailable(MISSING_SDK) from None
    return None if scenario is None else OtlpExporter(endpoint, scenario)
