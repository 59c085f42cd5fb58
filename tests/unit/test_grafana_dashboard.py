"""docs/grafana/stresslab-dashboard.json: an importable dashboard with a Prometheus datasource
variable and the panels the issue names (its queries are run by the real-Prometheus test)."""

from __future__ import annotations

import json
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "stresslab-dashboard.json"


def test_the_dashboard_is_current_and_every_panel_reads_the_chosen_prometheus() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["schemaVersion"] >= 39 and board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"scenario", "run_id"} <= variables.keys()
    titles = {panel["title"] for panel in board["panels"]}
    assert titles >= {"Run", "Transactions per second", "Latency quantiles", "Errors by class",
                      "Detection", "Degradation level", "Faults"}
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert 'scenario=~"$scenario"' in target["expr"] and 'run_id=~"$run_id"' in \
                target["expr"], target["expr"]
