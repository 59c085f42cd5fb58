"""The shaped sender's pure parts: the body it renders and what it prints (no network)."""

from __future__ import annotations

import orjson

from stresslab.generation.transactions import TransactionFactory
from stresslab.targets.config import RequestTemplate
from stresslab.targets.secrets import Secrets, environment_resolver
from stresslab.targets.sender import body_renderer


def test_a_secret_in_the_body_is_resolved_once_and_masked() -> None:
    # some platforms take their key in the body, e.g. {"auth": {"key": "..."}}
    secrets = Secrets(environment_resolver({"PARTNER_KEY": "bk_123"}))
    request = RequestTemplate(body={"auth": {"key": "${env:PARTNER_KEY}"},
                                    "ref": "{{ transaction_id }}"})
    render = body_renderer(request, secrets)
    transaction = TransactionFactory("r", 1, 0).next(1_767_225_600.0).payload
    body = render(transaction)
    assert orjson.loads(body) == {"auth": {"key": "bk_123"}, "ref": transaction["transaction_id"]}
    assert secrets.masker.mask_bytes(body) == (
        f'{{"auth":{{"key":"***"}},"ref":"{transaction["transaction_id"]}"}}'
    )


def test_without_a_body_template_the_transaction_goes_as_it_is() -> None:
    render = body_renderer(RequestTemplate(), Secrets(environment_resolver({})))
    transaction = TransactionFactory("r", 1, 0).next(1_767_225_600.0).payload
    assert render(transaction) == orjson.dumps(transaction)


def test_a_secret_holding_braces_is_sent_as_it_is_never_parsed_as_a_template() -> None:
    secrets = Secrets(environment_resolver({"ODD": "k{{ currency }}x{{"}))
    render = body_renderer(RequestTemplate(body={"key": "${env:ODD}", "n": "{{ amount_minor }}"}),
                           secrets)
    transaction = TransactionFactory("r", 1, 0).next(1_767_225_600.0).payload
    assert orjson.loads(render(transaction)) == {
        "key": "k{{ currency }}x{{", "n": transaction["amount_minor"],
    }
