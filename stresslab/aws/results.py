"""S3Results: a run's four outputs under runs/<run_id>/, and pre-signed links to them."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stresslab.outputs.report import write_outputs
from stresslab.runs import export_content_type, known_export


def output_key(run_id: str, name: str) -> str:
    return f"runs/{run_id}/{name}"


class S3Results:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def write(
        self, run_id: str, summary: Mapping[str, Any], series: Sequence[Mapping[str, Any]]
    ) -> dict[str, str]:
        """Render with the core's report writers and upload; the S3 keys by output name."""
        keys = {}
        with tempfile.TemporaryDirectory() as folder:
            for name, path in write_outputs(Path(folder), summary, series).items():
                key = output_key(run_id, path.name)
                self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=path.read_bytes(),
                    ContentType=export_content_type(path.name),
                )
                keys[name] = key
        return keys

    def link(self, run_id: str, name: str, expires_s: int = 300) -> str:
        known_export(name)
        # As an attachment: a browser following the link saves the file and stays on its page.
        return str(self._client.generate_presigned_url(
            "get_object", Params={
                "Bucket": self.bucket, "Key": output_key(run_id, name),
                "ResponseContentDisposition": f'attachment; filename="{run_id}-{name}"'},
            ExpiresIn=expires_s,
        ))

    def read_text(self, run_id: str, name: str) -> str | None:
        """An output's text; None when the run has none (yet)."""
        known_export(name)
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=output_key(run_id, name))
        except self._client.exceptions.NoSuchKey:
            return None
        return str(body["Body"].read().decode("utf-8"))

    def exists(self, run_id: str, name: str) -> bool:
        listing = self._client.list_objects_v2(
            Bucket=self.bucket, Prefix=output_key(run_id, name), MaxKeys=1
        )
        return bool(listing.get("KeyCount"))
