"""Request templates: compiled once, JSON types kept, filters, one-line errors naming the place."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from stresslab.generation.transactions import TransactionFactory
from stresslab.targets.template import FILTERS, TemplateError, compile_body, generated_samples

PARTNER_BODY = {
    "txn_ref": "{{ transaction_id }}",
    "value": {"minor": "{{ amount_minor }}", "ccy": "{{ currency }}"},
    "card_bin": "{{ card.bin }}",
    "merchant_category": "{{ merchant.mcc }}",
    "country": "{{ location.country }}",
}


def transactions(count: int = 500) -> list[dict[str, Any]]:
    factory = TransactionFactory("run1", 7, 3)
    return [factory.next(1_767_225_600.0 + i / 10).payload for i in range(count)]


def test_the_issues_body_keeps_each_fields_json_type() -> None:
    render = compile_body(PARTNER_BODY)
    for transaction in transactions():
        assert orjson.loads(render(transaction)) == {
            "txn_ref": transaction["transaction_id"],
            "value": {"minor": transaction["amount_minor"], "ccy": transaction["currency"]},
            "card_bin": transaction["card"]["bin"],
            "merchant_category": transaction["merchant"]["mcc"],
            "country": transaction["location"]["country"],
        }


def test_whole_objects_constants_and_lists() -> None:
    render = compile_body({"where": "{{ location }}", "v": 2, "flags": [True, None, 1.5, "x"]})
    transaction = transactions(1)[0]
    assert orjson.loads(render(transaction)) == {
        "where": transaction["location"], "v": 2, "flags": [True, None, 1.5, "x"],
    }


def test_text_around_placeholders_makes_text() -> None:
    render = compile_body({"ref": "tx:{{ transaction_id }}/{{ amount_minor }} {{currency|lower}}"})
    transaction = transactions(1)[0]
    expected = (f"tx:{transaction['transaction_id']}/{transaction['amount_minor']} "
                f"{transaction['currency'].lower()}")
    assert orjson.loads(render(transaction)) == {"ref": expected}


def test_filters() -> None:
    render = compile_body({
        "at": "{{ timestamp | epoch_ms }}", "ccy": "{{ currency | lower | upper }}",
        "minor": "{{ amount_minor | str }}", "network": "{{ card.network | upper }}",
    })
    transaction = {**transactions(1)[0], "timestamp": "2026-01-01T00:00:01.250Z"}
    assert orjson.loads(render(transaction)) == {
        "at": 1_767_225_601_250, "ccy": transaction["currency"],
        "minor": str(transaction["amount_minor"]),
        "network": transaction["card"]["network"].upper(),
    }


def test_a_path_under_an_optional_object_is_null_when_the_object_is() -> None:
    # some generated transactions have no device (the device_missing edge case)
    assert any(t["device"] is None for t in generated_samples())
    render = compile_body({"device": "{{ device.type }}", "ip": "ip={{ device.ip }}"})
    transaction = {**transactions(1)[0], "device": None}
    assert orjson.loads(render(transaction)) == {"device": None, "ip": "ip="}


def test_the_body_is_compiled_once_not_interpreted() -> None:
    render = compile_body(PARTNER_BODY)
    assert render.__code__.co_filename == "<request.body>"  # one compiled function


@pytest.mark.parametrize(("body", "message"), [
    ({"a": {"b": "{{ nope }}"}}, "request.body.a.b: unknown path 'nope' in the transaction"),
    ({"a": "{{ card.pan }}"}, "request.body.a: unknown path 'card.pan' in the transaction"),
    ({"a": "{{ card..bin }}"}, "request.body.a: unknown path 'card..bin' in the transaction"),
    ({"a": ["x", "{{ __class__ }}"]},
     "request.body.a[1]: unknown path '__class__' in the transaction"),
    ({"a": "{{ currency | shout }}"},
     "request.body.a: unknown filter 'shout' (use one of epoch_ms, upper, lower, str)"),
    ({"a": "{{ merchant.name | epoch_ms }}"},
     "request.body.a: filter 'epoch_ms' cannot apply to merchant.name (e.g. 'Bean There Coffee "
     "New York')"),
    ({"a": "x {{ currency"}, "request.body.a: unbalanced '{{' or '}}' in 'x {{ currency'"),
    ({"a": "{{ }}"}, "request.body.a: empty {{ }}"),
    ({1: "a"}, "request.body: key 1 is not text (JSON keys are text)"),
    ({"a": float("nan")}, "request.body.a: nan is not a JSON number"),
    ({"a": {1, 2}}, "request.body.a: set is not a JSON value"),
])
def test_bad_templates_are_one_line_naming_the_place(body: Any, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_body(body)
    assert str(caught.value) == message


def test_keys_and_text_from_the_file_never_become_code() -> None:
    hostile = {"'); import os; ('": "')}; import os; x = ({'", "k": "{{ currency }}\"+1+\""}
    render = compile_body(hostile)
    transaction = transactions(1)[0]
    assert orjson.loads(render(transaction)) == {
        "'); import os; ('": "')}; import os; x = ({'",
        "k": f"{transaction['currency']}\"+1+\"",
    }


def test_epoch_ms_reads_a_time_without_offset_as_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        epoch_ms = FILTERS["epoch_ms"]
        assert epoch_ms("2026-01-01T00:00:01.250Z") == 1_767_225_601_250
        assert epoch_ms("2026-01-01T00:00:01.250") == 1_767_225_601_250
        assert epoch_ms("2026-01-01T01:00:01+01:00") == 1_767_225_601_000
        assert epoch_ms(1_767_225_601.25) == 1_767_225_601_250
    finally:
        monkeypatch.undo()
        time.tzset()
