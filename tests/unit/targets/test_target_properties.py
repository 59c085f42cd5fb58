"""Properties: a template renders what a hand-built dict would; a masked text holds no secret."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stresslab.targets.secrets import SecretMasker
from stresslab.targets.template import compile_body, generated_samples, generated_shape

PLAIN_TEXT = st.text(max_size=20).filter(lambda t: "{{" not in t and "}}" not in t)
LEAVES = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | PLAIN_TEXT | st.floats(
    allow_nan=False, allow_infinity=False
)
PATHS = sorted(path for path in generated_shape() if "." in path or path != "device")


def json_trees() -> st.SearchStrategy[Any]:
    return st.recursive(
        LEAVES, lambda children: st.lists(children, max_size=4)
        | st.dictionaries(PLAIN_TEXT, children, max_size=4), max_leaves=20,
    )


@settings(max_examples=200, deadline=None)
@given(json_trees())
def test_a_body_without_placeholders_renders_as_itself(body: Any) -> None:
    assert compile_body(body)(generated_samples()[0]) == orjson.dumps(body)


def lookup(transaction: dict[str, Any], path: str) -> Any:
    value: Any = transaction
    for key in path.split("."):
        value = None if value is None else value[key]
    return value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(PLAIN_TEXT, st.sampled_from(PATHS), min_size=1, max_size=6),
       st.integers(0, len(generated_samples()) - 1))
def test_each_placeholder_is_the_transactions_value_with_its_type(
    fields: dict[str, str], which: int,
) -> None:
    render = compile_body({key: f"{{{{ {path} }}}}" for key, path in fields.items()})
    transaction = generated_samples()[which]
    assert orjson.loads(render(transaction)) == {
        key: lookup(dict(transaction), path) for key, path in fields.items()
    }


SECRETS = st.text(min_size=4, max_size=24).filter(lambda s: "*" not in s)


@settings(max_examples=300, deadline=None)
@given(st.lists(SECRETS, min_size=1, max_size=3), st.text(max_size=40), st.text(max_size=40))
def test_a_masked_text_holds_none_of_the_secrets(
    secrets: list[str], before: str, after: str,
) -> None:
    masker = SecretMasker()
    for secret in secrets:
        masker.add(secret)
    masked = masker.mask(before + "".join(secrets) + after)
    assert not any(secret in masked for secret in secrets)
