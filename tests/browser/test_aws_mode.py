"""The site's AWS mode in Chromium against the emulated AWS (tests/emulation): an operator signs
in with Cognito (SRP, new password, TOTP set-up, later the TOTP challenge; codes from pyotp),
starts a run from the admin page, shares a presentation link that shows it live without an
account, and stops it; an expired link says so."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from moto.cognitoidp import models as cognito_models

from stresslab.aws.viewer_links import SecretsManagerKeys, mint_viewer_link
from tests.emulation.system import AwsLocal

from .conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    PageErrors,
    _require_chromium,
    _require_site,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

COGNITO = "https://cognito-idp.us-east-1.amazonaws.com/"
TEMPORARY = "Temporary-Pass-123!"
CHOSEN = "Chosen-Pass-456?"
OPERATOR = "first.operator@stresslab.local"


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsLocal]:
    _require_chromium()
    _require_site()
    # moto then checks TOTP codes against the secret it hands out, as Cognito does
    previous = os.environ.get("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP")
    os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
    # and hands out a secret as long as Cognito's (160 bits; moto's own is 60, which pyotp
    # refuses as too short to be safe)
    moto_secret = cognito_models.COGNITO_TOTP_MFA_SECRET
    cognito_models.COGNITO_TOTP_MFA_SECRET = pyotp.random_base32()  # type: ignore[misc]
    try:
        with AwsLocal(Path(tmp_path_factory.mktemp("aws-mode"))) as running:
            yield running
    finally:
        cognito_models.COGNITO_TOTP_MFA_SECRET = moto_secret  # type: ignore[misc]
        if previous is None:
            os.environ.pop("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", None)
        else:
            os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = previous


@pytest.fixture(scope="module")
def chromium(aws: AwsLocal) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_context(chromium: Any, aws: AwsLocal) -> Any:
    """A browser whose requests to Cognito's public address reach the emulated pool (as DNS
    would send them to Cognito); everything else goes where the page sends it."""
    context = chromium.new_context(viewport={"width": 1600, "height": 1000},
                                   accept_downloads=True)

    def to_moto(route: Any) -> None:
        request = route.request
        cors = {"access-control-allow-origin": aws.gateway.http_url,
                "access-control-allow-headers": "content-type,x-amz-target,x-amz-user-agent,"
                                                "cache-control",
                "access-control-allow-methods": "POST,OPTIONS"}
        if request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
            return
        answer = route.fetch(url=aws.moto_url + "/")
        body = answer.json() if answer.ok else None
        if isinstance(body, dict) and body.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            # Cognito sends the user's attributes with this challenge (moto 5.2.5 does not);
            # amazon-cognito-identity-js reads them.
            parameters = body.setdefault("ChallengeParameters", {})
            parameters.setdefault("userAttributes", json.dumps({"email": OPERATOR}))
            parameters.setdefault("requiredAttributes", "[]")
            route.fulfill(status=answer.status, json=body,
                          headers={**answer.headers, **cors})
            return
        route.fulfill(response=answer, headers={**answer.headers, **cors})

    context.route(re.compile(r"^https://cognito-idp\.us-east-1\.amazonaws\.com/.*"), to_moto)
    return context


def first_operator(aws: AwsLocal) -> None:
    """An invited operator: a temporary password, no authenticator yet (the stack's pool asks
    for TOTP; the emulated pool is told its software-token setting here)."""
    cognito = aws.client("cognito-idp")
    pool = aws.account.user_pool_id
    cognito.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="ON",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    cognito.admin_create_user(UserPoolId=pool, Username=OPERATOR, MessageAction="SUPPRESS",
                              TemporaryPassword=TEMPORARY,
                              UserAttributes=[{"Name": "email", "Value": OPERATOR}])
    cognito.admin_add_user_to_group(UserPoolId=pool, Username=OPERATOR, GroupName="operators")


def by_testid(page: Any, name: str) -> Any:
    return page.locator(f"[data-testid='{name}']")


def sign_in(page: Any, password: str, next_step: str, errors: PageErrors) -> None:
    by_testid(page, "signin-username").fill(OPERATOR)
    by_testid(page, "signin-password").fill(password)
    by_testid(page, "signin-submit").click()
    reached(page, next_step, errors)


def reached(page: Any, step: str, errors: PageErrors) -> None:
    """The sign-in panel shows `step` (by its test id), or the test fails with what it shows."""
    shown = page.locator(f"[data-testid='{step}'], [data-testid='signin-error']")
    shown.first.wait_for(timeout=20_000)
    error = by_testid(page, "signin-error")
    assert error.count() == 0, f"sign-in refused: {error.inner_text()} {list(errors)}"


def live_run(page: Any) -> dict[str, Any] | None:
    return page.evaluate("""() => { const s = window.__stresslab?.state();
        return s && s.latest ? { run_id: s.latest.run_id, second: s.latest.second,
                                 sent: s.latest.totals.sent } : null; }""")


def wait_for(condition: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def test_an_operator_signs_in_with_totp_starts_a_run_shares_it_and_stops_it(
        aws: AwsLocal, chromium: Any) -> None:
    first_operator(aws)
    errors = PageErrors()
    context = new_context(chromium, aws)
    admin = errors.watch(context.new_page())

    # Given an invited operator on the admin page: the sign-in, and no live feed without it
    admin.goto(aws.urls.admin)
    by_testid(admin, "signin-submit").wait_for()
    assert admin.evaluate("window.__stresslab.status()") == "closed"
    # When they sign in with the temporary password, choose a password, set up TOTP
    sign_in(admin, TEMPORARY, "new-password", errors)
    by_testid(admin, "new-password").fill(CHOSEN)
    by_testid(admin, "new-password-submit").click()
    reached(admin, "totp-secret", errors)
    secret = by_testid(admin, "totp-secret").inner_text()
    by_testid(admin, "sign-in").screenshot(path=str(SCREENSHOTS / "aws-sign-in.png"))
    uri = by_testid(admin, "totp-uri").inner_text()
    assert uri.startswith("otpauth://totp/stresslab:") and f"secret={secret}" in uri
    by_testid(admin, "totp-setup-code").fill(pyotp.TOTP(secret).now())
    by_testid(admin, "totp-setup-submit").click()

    # Then they are signed in, the controls list the bundled scenarios, the feed is live
    reached(admin, "signed-in-as", errors)
    assert by_testid(admin, "signed-in-as").inner_text() == f"Signed in as {OPERATOR}"
    admin.wait_for_function("document.querySelectorAll(\"[data-testid='scenario-select'] "
                            "option\").length > 0", timeout=15_000)
    by_testid(admin, "connection").and_(admin.locator("[data-status='open']")).wait_for(
        timeout=15_000)

    # When they sign out and in again, Cognito asks for the authenticator's code
    by_testid(admin, "sign-out").click()
    sign_in(admin, CHOSEN, "totp-code", errors)
    by_testid(admin, "totp-code").fill(pyotp.TOTP(secret).now())
    by_testid(admin, "totp-submit").click()
    reached(admin, "signed-in-as", errors)

    # When they start smoke against the reference service from the admin page
    by_testid(admin, "scenario-select").select_option("smoke")
    by_testid(admin, "time-scale").fill("1")
    by_testid(admin, "load-scale").fill("0.1")
    by_testid(admin, "target-url").fill(aws.reference.score_url)
    by_testid(admin, "start-run").click()
    started = wait_for(lambda: re.search(r"Started (\S+)",
                                         by_testid(admin, "control-result").inner_text()),
                       30, "the start answer")
    run_id = started.group(1)
    # Then its seconds arrive live on the admin page
    wait_for(lambda: (live_run(admin) or {}).get("run_id") == run_id, 90, "a live tick")

    # When they share a presentation link, an investor opens it without an account
    by_testid(admin, "share-link").click()
    by_testid(admin, "share-url").wait_for(state="visible", timeout=15_000)
    link = by_testid(admin, "share-url").input_value()
    assert "token=" in link and "valid until" in by_testid(admin, "share-expiry").inner_text()
    viewer_context = new_context(chromium, aws)
    viewer = errors.watch(viewer_context.new_page())
    viewer.goto(link)
    # Then the presentation shows the run live, read-only
    wait_for(lambda: (live_run(viewer) or {}).get("run_id") == run_id, 60,
             "the run on the shared presentation")
    assert by_testid(viewer, "access-notice").count() == 0
    viewer.wait_for_timeout(3000)  # a few seconds of numbers on the charts
    viewer.screenshot(path=str(SCREENSHOTS / "aws-presentation.png"))
    admin.screenshot(path=str(SCREENSHOTS / "aws-admin.png"))
    # And the operator's other pages, in the same tab, open live with the tab's session
    for name in ("analytics", "agents"):
        admin.goto(f"{aws.gateway.http_url}/{name}.html")
        wait_for(lambda: (live_run(admin) or {}).get("run_id") == run_id, 60,
                 f"the run on {name}")
        admin.wait_for_timeout(1500)
        admin.screenshot(path=str(SCREENSHOTS / f"aws-{name}.png"))
    admin.goto(aws.urls.admin)
    reached(admin, "signed-in-as", errors)

    # When the operator stops the run from the admin page, the execution ends
    wait_for(lambda: by_testid(admin, "stop-run").is_enabled(), 30, "the stop button")
    by_testid(admin, "stop-run").click()
    wait_for(lambda: "Stop requested" in by_testid(admin, "control-result").inner_text(), 30,
             "the stop answer")
    sfn = aws.client("stepfunctions")
    arn = f"{aws.account.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"
    wait_for(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", 30,
             "the execution to end")
    viewer_context.close()
    context.close()
    assert [e for e in errors if "favicon" not in e] == []


def test_an_expired_presentation_link_says_so_and_does_not_connect(
        aws: AwsLocal, chromium: Any) -> None:
    secret_arn = next(f.environment["VIEWER_LINK_SECRET_ARN"]
                      for f in aws.account.functions.values()
                      if "VIEWER_LINK_SECRET_ARN" in f.environment)
    keys = SecretsManagerKeys(aws.client("secretsmanager"), secret_arn)
    expired = mint_viewer_link(aws.urls.presentation, keys, 60, time.time() - 120)
    context = new_context(chromium, aws)
    page = context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))

    page.goto(expired.url)

    notice = by_testid(page, "access-notice")
    notice.wait_for(timeout=15_000)
    assert notice.get_attribute("data-reason") == "link-expired"
    assert "This presentation link has expired" in notice.inner_text()
    page.wait_for_timeout(1500)
    assert sockets == [] and page.evaluate("window.__stresslab.status()") == "closed"
    context.close()


def test_an_operator_exports_a_finished_runs_file_by_its_link_and_trips_the_kill_switch(
        aws: AwsLocal, chromium: Any) -> None:
    assert aws.operator is not None
    errors = PageErrors()
    context = new_context(chromium, aws)
    admin = errors.watch(context.new_page())
    # Given an operator signed in earlier in this tab (the session a reload finds)
    admin.goto(aws.urls.admin)
    tokens = aws.sign_in(aws.operator)
    admin.evaluate("""([pool, client, user, t]) => {
        const key = `CognitoIdentityServiceProvider.${client}`;
        sessionStorage.setItem(`${key}.LastAuthUser`, user);
        sessionStorage.setItem(`${key}.${user}.idToken`, t.IdToken);
        sessionStorage.setItem(`${key}.${user}.accessToken`, t.AccessToken);
        sessionStorage.setItem(`${key}.${user}.refreshToken`, t.RefreshToken); }""",
                   [aws.account.user_pool_id, aws.account.user_pool_client_id,
                    aws.operator.username, tokens])
    admin.reload()
    reached(admin, "signed-in-as", errors)
    # And a short run that has finished
    sfn = aws.client("stepfunctions")
    admin.wait_for_function("document.querySelectorAll(\"[data-testid='scenario-select'] "
                            "option\").length > 0", timeout=15_000)
    by_testid(admin, "scenario-select").select_option("smoke")
    by_testid(admin, "time-scale").fill("0.25")
    by_testid(admin, "load-scale").fill("0.1")
    by_testid(admin, "target-url").fill(aws.reference.score_url)
    by_testid(admin, "start-run").click()
    run_id = wait_for(lambda: re.search(r"Started (\S+)",
                                        by_testid(admin, "control-result").inner_text()),
                      30, "the start answer").group(1)
    arn = f"{aws.account.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"
    wait_for(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", 180,
             "the run to finish")
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"

    # When they export its summary, the control API answers a link and the browser follows it
    admin.locator(f"tr[data-run-id='{run_id}']").click(timeout=30_000)
    with admin.expect_download(timeout=30_000) as downloading:
        by_testid(admin, "export-summary.json").click()
    summary = json.loads(Path(downloading.value.path()).read_text())
    assert summary["run_id"] == run_id
    assert "link valid 300 s" in by_testid(admin, "export-result").inner_text()

    # And the analytics page in this tab draws it as a baseline: its series read back from the
    # run's timeseries.csv in the results bucket, every answer of the summary in it
    admin.goto(f"{aws.gateway.http_url}/analytics.html?baseline={run_id}")
    admin.wait_for_function("(id) => document.querySelector('[data-testid=chart-latency]')"
                            "?.dataset.ghost === id", arg=run_id, timeout=30_000)
    ghost = json.loads(admin.eval_on_selector("[data-testid=chart-accuracy-load]",
                                              "(el) => el.dataset.ghostSeries"))
    assert ghost[0]["name"] == f"baseline {run_id}"
    assert sum(ok for _, ok in ghost[0]["data"]) == summary["counts"]["ok"] > 0
    admin.goto(aws.urls.admin)
    reached(admin, "signed-in-as", errors)

    # When they trip the kill switch, no run is left running, until they clear it
    by_testid(admin, "kill-switch").click()
    wait_for(lambda: "Kill switch on" in by_testid(admin, "control-result").inner_text(), 30,
             "the kill switch answer")
    by_testid(admin, "clear-kill-switch").click()
    wait_for(lambda: "Kill switch cleared" in by_testid(admin, "control-result").inner_text(),
             30, "the clearing answer")
    context.close()
    assert [e for e in errors if "favicon" not in e] == []
