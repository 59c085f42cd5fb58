"""Issue 9's end-to-end proof in Chromium against the emulated AWS: the four pages' live numbers
agree with the run's summary.json in the emulated bucket (a page opened mid-run gets the run's
history), Stop ends the execution and every load generator within 10 s, and a fault on the
timeline is started and cleared through FIS, shaded live and measured in the summary."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from stresslab.aws.results import output_key
from tests.emulation.system import AwsLocal

from .conftest import PageErrors
from .test_aws_mode import aws, by_testid, chromium, live_run, new_context, wait_for

__all__ = ["aws", "chromium"]  # the fixtures, shared with the AWS-mode test

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GENERATOR = "lambdas.load_generator.handler"
STOP_WITHIN_S = 10.0


@pytest.fixture
def operator_context(aws: AwsLocal, chromium: Any) -> Iterator[Any]:
    """A browser whose every tab holds an operator's Cognito session (as a tab does after
    signing in on the admin page; the sign-in itself is test_aws_mode's)."""
    assert aws.operator is not None
    tokens = aws.sign_in(aws.operator)
    context = new_context(chromium, aws)
    client, user = aws.account.user_pool_client_id, aws.operator.username
    context.add_init_script(f"""(() => {{
        const key = "CognitoIdentityServiceProvider.{client}";
        sessionStorage.setItem(`${{key}}.LastAuthUser`, {json.dumps(user)});
        sessionStorage.setItem(`${{key}}.{user}.idToken`, {json.dumps(tokens["IdToken"])});
        sessionStorage.setItem(`${{key}}.{user}.accessToken`, {json.dumps(tokens["AccessToken"])});
        sessionStorage.setItem(`${{key}}.{user}.refreshToken`,
                               {json.dumps(tokens["RefreshToken"])});
    }})();""")
    yield context
    context.close()


def open_admin(context: Any, aws: AwsLocal, errors: PageErrors) -> Any:
    admin = errors.watch(context.new_page())
    admin.goto(aws.urls.admin)
    by_testid(admin, "signed-in-as").wait_for(timeout=20_000)
    admin.wait_for_function("document.querySelectorAll(\"[data-testid='scenario-select'] "
                            "option\").length > 0", timeout=15_000)
    return admin


def start_from_admin(admin: Any, aws: AwsLocal, time_scale: str, load_scale: str) -> str:
    by_testid(admin, "scenario-select").select_option("smoke")
    by_testid(admin, "time-scale").fill(time_scale)
    by_testid(admin, "load-scale").fill(load_scale)
    by_testid(admin, "target-url").fill(aws.reference.score_url)
    by_testid(admin, "start-run").click()
    return str(wait_for(lambda: re.search(r"Started (\S+)",
                                          by_testid(admin, "control-result").inner_text()),
                        30, "the start answer").group(1))


def execution_arn(aws: AwsLocal, run_id: str) -> str:
    return f"{aws.account.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"


def execution(aws: AwsLocal, run_id: str) -> dict[str, Any]:
    return dict(aws.client("stepfunctions").describe_execution(
        executionArn=execution_arn(aws, run_id)))


def summary_in_bucket(aws: AwsLocal, run_id: str) -> dict[str, Any]:
    bucket = next(f.environment["RESULTS_BUCKET"] for f in aws.account.functions.values()
                  if "RESULTS_BUCKET" in f.environment)
    body = aws.client("s3").get_object(Bucket=bucket, Key=output_key(run_id, "summary.json"))
    return dict(json.loads(body["Body"].read()))


def live_view(page: Any) -> dict[str, Any] | None:
    """What the page holds for its run: the latest tick, and which seconds it has."""
    return page.evaluate("""() => { const s = window.__stresslab?.state();
        if (!s || !s.latest) return null;
        return { run_id: s.latest.run_id, status: s.run?.status ?? null,
                 seconds: s.history.map((t) => t.second), hero: s.latest.hero,
                 totals: s.latest.totals,
                 agents: Object.fromEntries(s.latest.agents.map((a) => [a.name, a.calls])) }; }""")


def operator_api(aws: AwsLocal, method: str, path: str, body: Any = None) -> Any:
    assert aws.operator is not None
    token = aws.sign_in(aws.operator)["IdToken"]
    request = urllib.request.Request(
        aws.urls.api + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def the_generator(aws: AwsLocal) -> str:
    return next(f.logical_id for f in aws.account.functions.values() if f.handler == GENERATOR)


def test_all_four_pages_show_live_numbers_that_agree_with_the_summary_in_s3(
        aws: AwsLocal, chromium: Any, operator_context: Any) -> None:
    errors = PageErrors()
    # Given the operator's admin page, and smoke started from it (10 s at 50 TPS)
    admin = open_admin(operator_context, aws, errors)
    run_id = start_from_admin(admin, aws, "0.5", "0.5")
    wait_for(lambda: (live_run(admin) or {}).get("run_id") == run_id, 90, "a live tick")
    by_testid(admin, "share-link").click()
    by_testid(admin, "share-url").wait_for(state="visible", timeout=15_000)
    link = by_testid(admin, "share-url").input_value()
    # When, some seconds into the run, the other pages open (an investor by the shared link)
    wait_for(lambda: (live_run(admin) or {}).get("second", 0) >= 3, 60, "three seconds of run")
    viewer_context = new_context(chromium, aws)
    presentation = errors.watch(viewer_context.new_page())
    presentation.goto(link)
    analytics = errors.watch(operator_context.new_page())
    analytics.goto(f"{aws.gateway.http_url}/analytics.html")
    agents = errors.watch(operator_context.new_page())
    agents.goto(f"{aws.gateway.http_url}/agents.html")
    pages = {"presentation": presentation, "analytics": analytics, "agents": agents,
             "admin": admin}
    # Then each has the run from its first second, not only what closed after it opened
    # (a tick may reach a page before its snapshot does: the snapshot then brings the rest)
    def whole_history(page: Any) -> bool:
        view = live_view(page)
        return view is not None and view["run_id"] == run_id and \
            view["seconds"] == list(range(len(view["seconds"])))

    for name in ("presentation", "analytics", "agents"):
        wait_for(lambda page=pages[name]: whole_history(page), 30,
                 f"{name} to hold the run from second 0, it holds "
                 f"{(live_view(pages[name]) or {}).get('seconds')}")

    # When the run has ended on its own
    wait_for(lambda: execution(aws, run_id)["status"] != "RUNNING", 120, "the run's end")
    assert execution(aws, run_id)["status"] == "SUCCEEDED"
    summary = summary_in_bucket(aws, run_id)
    counts, accuracy = summary["counts"], summary["accuracy"]
    assert counts["sent"] > 0 and counts["reconciled"] is True, counts
    expected = {"sent": counts["sent"], "ok": counts["ok"], "errors": counts["errors"],
                "timeouts": counts["timeouts"], "dropped": counts["dropped"],
                "scheduled": counts["scheduled"]}

    # Then every page's last numbers are the summary's
    def agrees(page: Any) -> dict[str, Any] | None:
        view = live_view(page)
        if view is None or view["run_id"] != run_id:
            return None
        shown = {k: view["totals"][k] for k in expected}
        return view if shown == expected else None

    for name, page in pages.items():
        view = wait_for(lambda page=page: agrees(page), 30,
                        f"{name}'s totals to be the summary's {expected}, it shows "
                        f"{(live_view(page) or {}).get('totals')}")
        hero, totals = view["hero"], view["totals"]
        assert hero["transactions_processed"] == counts["ok"], name
        assert hero["fraud_blocked"] == accuracy["tp"], name
        assert totals["accuracy"] == pytest.approx(accuracy["accuracy"]), name
        assert hero["ai_accuracy"] == pytest.approx(round(accuracy["accuracy"] * 100, 2)), name
        for percentile in ("p95", "p99"):
            assert totals[f"{percentile}_ms"] == pytest.approx(
                summary["latency_ms"][percentile], rel=0.01), (name, percentile)
        assert view["agents"] == {a: s["calls"] for a, s in summary["agents"].items()}, name
    # And what the pages print is those numbers
    for metric, value in (("transactions_processed", counts["ok"]),
                          ("fraud_blocked", accuracy["tp"])):
        raw = presentation.get_attribute(f'[data-metric="{metric}"]', "data-value")
        assert raw and float(raw) == value, (metric, raw, value)
    for name, stats in summary["agents"].items():
        shown = by_testid(agents, f"agent-{name}-calls").inner_text().replace(",", "")
        assert int(shown) == stats["calls"], (name, shown)
    viewer_context.close()
    assert [e for e in errors if "favicon" not in e] == []


def test_stop_from_the_admin_page_ends_the_execution_and_every_generator_within_10_s(
        aws: AwsLocal, operator_context: Any) -> None:
    errors = PageErrors()
    generator = the_generator(aws)
    # Given smoke running from the admin page at its full length (20 s), generators under way
    admin = open_admin(operator_context, aws, errors)
    run_id = start_from_admin(admin, aws, "1", "0.3")
    wait_for(lambda: (live_run(admin) or {}).get("run_id") == run_id, 90, "a live tick")
    wait_for(lambda: aws.runtime.running.get(generator, 0) > 0, 30, "a running generator")
    wait_for(lambda: by_testid(admin, "stop-run").is_enabled(), 30, "the stop button")

    # When the operator clicks Stop
    clicked_wall, clicked = time.time(), time.monotonic()
    by_testid(admin, "stop-run").click()
    # Then the execution ends, and so does the last generator's invocation, within 10 s
    wait_for(lambda: execution(aws, run_id)["status"] != "RUNNING", 30, "the execution's end")
    wait_for(lambda: aws.runtime.running.get(generator, 0) == 0, 30, "the generators' end")
    described = execution(aws, run_id)
    assert described["status"] in ("ABORTED", "SUCCEEDED", "FAILED"), described["status"]
    execution_took = described["stopDate"].timestamp() - clicked_wall
    generators = [i for i in aws.runtime.invocations if i.function == generator
                  and i.ended_at > clicked - 1]
    assert generators, "no generator invocation was running when Stop was clicked"
    generators_took = max(i.ended_at for i in generators) - clicked
    print(f"Stop: execution ended {execution_took:.2f} s after the click, the last of "
          f"{len(generators)} generator invocations {generators_took:.2f} s after it")
    assert execution_took <= STOP_WITHIN_S, execution_took
    assert generators_took <= STOP_WITHIN_S, generators_took
    assert "Stop requested" in by_testid(admin, "control-result").inner_text()
    assert [e for e in errors if "favicon" not in e] == []


def test_a_fault_on_the_timeline_goes_through_fis_shows_live_and_is_measured(
        aws: AwsLocal, operator_context: Any) -> None:
    errors = PageErrors()
    scenario = {
        "name": "smoke-with-a-fault", "workers": 2, "seed": 11,
        "phases": [{"name": "steady", "shape": "constant", "tps": 40, "duration": "14s"}],
        "criteria": ["p95_ms < 500", "lost == 0"],
        "faults": [{"type": "agent_errors", "target": "geographic_risk", "intensity": 0.6,
                    "at": "3s", "duration": "4s"}],
    }
    # Given the analytics page open in the operator's browser
    analytics = errors.watch(operator_context.new_page())
    analytics.goto(f"{aws.gateway.http_url}/analytics.html")
    by_testid(analytics, "connection").and_(analytics.locator("[data-status='open']")).wait_for(
        timeout=20_000)
    # When the operator starts a run whose timeline holds one fault (the control API, as the
    # admin page calls it: the operator's token, StartRun with the scenario inline)
    started = operator_api(aws, "POST", "/runs",
                           {"scenario": scenario, "target_url": aws.reference.score_url})
    run_id = started["run_id"]
    # Then the analytics page shades the fault while the run goes on
    wait_for(lambda: int(by_testid(analytics, "chart-latency").get_attribute("data-faults")
                         or 0) >= 1 and (live_run(analytics) or {}).get("run_id") == run_id,
             60, "the fault window on the analytics charts")
    assert execution(aws, run_id)["status"] == "RUNNING"
    wait_for(lambda: execution(aws, run_id)["status"] != "RUNNING", 120, "the run's end")
    assert execution(aws, run_id)["status"] == "SUCCEEDED"

    # And FIS ran one experiment for it, started and then stopped
    experiments = [e for e in aws.client("fis").list_experiments()["experiments"]
                   if e.get("tags", {}).get("stresslab:run_id") == run_id]
    assert len(experiments) == 1, experiments
    assert experiments[0]["state"]["status"] in ("stopped", "completed"), experiments[0]
    changes = [e.change for e in aws.carrier.timeline if e.experiment_id == experiments[0]["id"]]
    assert changes == ["started", "stopped"], changes
    # And the summary in S3 has it detected, recovered and judged
    fault = summary_in_bucket(aws, run_id)["faults"][0]
    assert fault["type"] == "agent_errors", fault
    assert fault["time_to_detect_s"] is not None and fault["time_to_recover_s"] is not None, fault
    assert isinstance(fault["passed"], bool), fault
    assert [e for e in errors if "favicon" not in e] == []
