"""A real local run names what it stressed: summary.json, report.html, the live run."""

from __future__ import annotations

import html

import pytest

from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.local.store import SqliteRunStore
from stresslab.scenario.spec import parse_scenario

pytestmark = pytest.mark.timeout(120)


def spec():
    return parse_scenario({"name": "named", "workers": 1,
                           "phases": [{"shape": "constant", "tps": 50, "duration": 2}]}, "test")


async def test_a_run_of_the_reference_service_says_so_and_models_its_cost(tmp_path):
    # Given a run against the bundled reference service (no target given)
    run = LocalRun(LocalRunOptions(spec=spec(), out_dir=tmp_path / "out",
                                   db_path=tmp_path / "runs.db", progress=False))
    result = await run.execute()
    # Then the summary names it as the reference service with simulated agents
    system = result.summary["system_under_test"]
    assert system["reference"] is True
    assert system["label"] == "reference service — simulated agents"
    assert system["host"].startswith("127.0.0.1:")
    assert run.snapshot().run.system_under_test is not None
    assert run.snapshot().run.system_under_test.reference is True
    # and the run list (admin page's history) names it too
    (listed,) = SqliteRunStore(tmp_path / "runs.db").list_runs()
    assert listed["system"] == "reference service — simulated agents"
    # And its cost is a model-backed platform's (its four agents priced as model calls), modelled
    business = result.summary["business"]
    assert business["cost_basis"] == "modelled"
    # priced from the usage its answers declare: 6,200 input + 730 output tokens for 4 agents
    assert business["cost_model"].startswith(
        "modelled: 6,200 input + 730 output model tokens per transaction, declared (modelled) "
        "in the target's answers")
    assert 0.007 < business["cost_per_transaction"] < 0.009
    report = html.unescape((tmp_path / "out" / "report.html").read_text())
    assert "System under test: reference service — simulated agents" in report
    assert "Cost per transaction (modelled)" in report


async def test_a_run_of_a_foreign_server_names_its_host(nginx, tmp_path):
    run = LocalRun(LocalRunOptions(spec=spec(), target_url=nginx.url, db_path=tmp_path / "db",
                                   progress=False))
    result = await run.execute()
    system = result.summary["system_under_test"]
    assert system["reference"] is False and system["kind"] == "http"
    assert nginx.url.split("/")[2] == system["host"] == system["name"]


async def test_a_platform_that_reports_its_usage_is_priced_from_it(tmp_path):
    # Given a platform (not ours) that reports each answer's model tokens per agent
    from aiohttp import web

    from stresslab.judgement.business import load_price_table

    async def score(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"decision": "approve", "usage": {
            "triage": {"input_tokens": 900, "output_tokens": 40},
            "explainer": {"input_tokens": 100, "output_tokens": 60}}})

    app = web.Application()
    app.router.add_post("/v1/score", score)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        run = LocalRun(LocalRunOptions(spec=spec(), target_url=f"http://127.0.0.1:{port}/v1/score",
                                       db_path=tmp_path / "db", progress=False))
        result = await run.execute()
    finally:
        await runner.cleanup()
    # Then its cost is the reported 1,000 input + 100 output tokens at the table's prices
    assert result.summary["counts"]["ok"] == result.summary["counts"]["sent"] > 0
    business = result.summary["business"]
    assert business["cost_basis"] == "reported"
    assert business["cost_model"].startswith(
        "reported: 1,000 input + 100 output model tokens per transaction")
    prices = load_price_table()
    tokens = 1000 * prices.price("bedrock_input_token") + 100 * prices.price("bedrock_output_token")
    assert tokens < business["cost_per_transaction"] < tokens * 1.01  # plus infrastructure
