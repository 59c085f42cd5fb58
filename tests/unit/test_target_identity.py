"""The system under test as pages, reports and summaries name it: name, kind, host; no secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stresslab.scenario.presentation import PRESENTATION_DIR as PRESENTATION
from stresslab.targets.config import HttpTarget, LambdaTarget, SqsTarget
from stresslab.targets.identity import REFERENCE_LABEL, identify_target, url_host
from stresslab.targets.section import parse_target


def test_the_reference_service_is_named_as_simulated_agents() -> None:
    identity = identify_target("http://127.0.0.1:8123/v1/score", reference=True)
    assert identity.reference is True
    assert identity.label == REFERENCE_LABEL == "reference service — simulated agents"
    assert identity.host == "127.0.0.1:8123"


def test_a_named_http_target_shows_its_name_kind_and_host_never_its_path_or_query() -> None:
    section = parse_target({"name": "Partner fraud API", "kind": "http",
                            "url": "https://api.partner.example:8443/v2/assess?key=${env:KEY}"})
    identity = identify_target("https://api.partner.example:8443/v2/assess?key=s3cret",
                               section=section)
    assert identity.model_dump() == {
        "name": "Partner fraud API", "kind": "http", "host": "api.partner.example:8443",
        "reference": False, "label": "Partner fraud API (http, api.partner.example:8443)"}
    assert "s3cret" not in identity.model_dump_json() and "assess" not in identity.label


def test_a_url_alone_is_named_by_its_host() -> None:
    identity = identify_target("http://10.0.0.7:9000/score?api_key=abc")
    assert (identity.name, identity.host, identity.label) == (
        "10.0.0.7:9000", "10.0.0.7:9000", "10.0.0.7:9000 (http)")
    assert url_host("http://[::1]:81/x") == "[::1]:81"
    assert url_host("not a url") is None


def test_an_aws_runs_stream_target_is_named_by_its_stream() -> None:
    # the AWS runtime records a Kinesis target as kinesis:NAME
    assert identify_target("kinesis:fraud-in").label == "fraud-in (kinesis)"
    assert identify_target("kinesis:a/b").name == "unnamed target"


def test_aws_kinds_are_named_by_their_resource_without_account_or_region() -> None:
    function = LambdaTarget(kind="lambda",
                            function="arn:aws:lambda:us-east-1:123456789012:function:score:live")
    assert identify_target(section=function).host == "score"
    queue = SqsTarget(kind="sqs", queue_url="https://sqs.us-east-1.amazonaws.com/123/txns",
                      outcome={"dynamodb": "decisions"})
    assert identify_target(section=queue).label == "txns (sqs)"


def test_a_name_with_a_line_break_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="name"):
        HttpTarget(url="http://127.0.0.1:1/", name="two\nlines")


def test_a_profile_cannot_call_the_reference_services_agents_ai(tmp_path) -> None:
    from stresslab.scenario.presentation import PresentationError, load_profile

    text = (PRESENTATION / "investor.yaml").read_text().replace(
        "four simulated agents (reference service)", "four AI agents (reference service)")
    (tmp_path / "investor.yaml").write_text(text)
    with pytest.raises(PresentationError, match="flow_title_reference.*do not call them AI"):
        load_profile("investor", tmp_path)
    assert load_profile("investor").wording.flow_title_reference.startswith(
        "Every payment, checked by four simulated agents")
