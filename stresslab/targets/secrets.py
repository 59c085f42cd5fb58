"""Secret references (${env:NAME}, ${secretsmanager:NAME}, ${ssm:NAME}), resolved and masked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import orjson

SECRET_SOURCES = ("env", "secretsmanager", "ssm")
SECRET_REFERENCE = re.compile(r"\$\{([A-Za-z]+):([^}\s]*)\}")
MASK = "***"

# (source, name) -> the secret's value; raises SecretError when it cannot
SecretResolver = Callable[[str, str], str]


class SecretError(ValueError):
    """A secret reference that is malformed or cannot be resolved. The message is one line."""


def check_references(text: str) -> None:
    """SecretError unless every ${...} in the text is a well-formed reference to a known source."""
    for source, name in SECRET_REFERENCE.findall(text):
        if source not in SECRET_SOURCES:
            raise SecretError(
                f"unknown secret source {source!r} in ${{{source}:…}} "
                f"(use one of {', '.join(SECRET_SOURCES)})"
            )
        if not name:
            raise SecretError(f"${{{source}:}} names no secret")
    leftover = SECRET_REFERENCE.sub("", text)
    if "${" in leftover:
        raise SecretError("a '${' that is not a secret reference such as ${env:NAME}")


def environment_resolver(environ: Mapping[str, str]) -> SecretResolver:
    """Resolves ${env:NAME} from the given environment; other sources need an AWS resolver."""

    def resolve(source: str, name: str) -> str:
        if source != "env":
            raise SecretError(f"${{{source}:{name}}} can be resolved only on AWS")
        try:
            return environ[name]
        except KeyError:
            raise SecretError(f"environment variable {name} is not set") from None

    return resolve


def chain_resolvers(environ: Mapping[str, str], aws: SecretResolver) -> SecretResolver:
    """${env:…} from the environment, everything else through the AWS resolver."""
    local = environment_resolver(environ)
    return lambda source, name: local(source, name) if source == "env" else aws(source, name)


@dataclass(frozen=True)
class NameRule:
    """The names of one source a run may read: these exactly, or any under these prefixes."""

    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def allows(self, name: str) -> bool:
        return name in self.names or name.startswith(self.prefixes)


@dataclass(frozen=True)
class SecretPolicy:
    """Which secrets a run may read, for whoever starts runs on another's behalf (the local
    server's API, the AWS control API). A source without a rule may not be read at all.
    Checked before anything is resolved or sent; runs from the user's own CLI have none."""

    rules: Mapping[str, NameRule] = field(default_factory=dict)
    # (source, name) -> the one-line refusal, saying how to allow it where that is possible
    refusal: Callable[[str, str], str] = (
        lambda source, name: f"target secret ${{{source}:{name}}} is not allowed here")

    def allows(self, source: str, name: str) -> bool:
        rule = self.rules.get(source)
        return rule is not None and rule.allows(name)

    def check(self, data: Any) -> None:
        """SecretError naming the first reference in the data (any structure) not allowed."""
        for text in _strings(data):
            for source, name in SECRET_REFERENCE.findall(text):
                if not self.allows(source, name):
                    raise SecretError(self.refusal(source, name))


# Any name under this prefix was put in the environment for targets, never by accident.
API_ENV_PREFIX = "STRESSLAB_TARGET_"


def api_secret_policy(allowed: tuple[str, ...] | frozenset[str]) -> SecretPolicy:
    """Runs started over the local server's API: ${env:NAME} for the names the server was
    started with (--allow-secret) or under STRESSLAB_TARGET_, never the rest of its environment."""
    return SecretPolicy(
        {"env": NameRule(frozenset(allowed), (API_ENV_PREFIX,))},
        lambda source, name: (
            f"target secret ${{{source}:{name}}} is not allowed for runs started over the API; "
            + (f"start the server with --allow-secret {name}" if source == "env"
               else "runs started here read only ${env:NAME}")
        ),
    )


def aws_secret_policy(prefix: str) -> SecretPolicy:
    """Runs on AWS: Secrets Manager secrets named under the deploy's prefix (the load generators
    may read only those tagged stresslab:target-key=true besides). Never ${env:NAME}: a Lambda's
    environment holds its own AWS credentials. Never ${ssm:NAME}: the generators have no grant."""
    stored = f"keep it in Secrets Manager as ${{secretsmanager:{prefix}NAME}}"
    reasons = {
        "env": f"the load generators' environment holds their own credentials; {stored}",
        "ssm": f"the load generators have no SSM grant; {stored}",
        "secretsmanager": f"runs read only secrets named {prefix}…",
    }
    return SecretPolicy(
        {"secretsmanager": NameRule(prefixes=(prefix,))},
        lambda source, name: (f"target secret ${{{source}:{name}}} is not allowed on AWS: "
                              f"{reasons.get(source, stored)}"),
    )


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, Mapping):
        for key, item in data.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(data, list | tuple | set | frozenset):
        for item in data:
            yield from _strings(item)


class SecretMasker:
    """Replaces every resolved secret value, and the forms it is sent in, with ***."""

    def __init__(self) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if not value:
            return
        json_form = orjson.dumps(value)[1:-1].decode()
        forms = {value, quote(value, safe=""), quote_plus(value), json_form}
        self._forms |= {form for form in forms if form}
        # longest first, so a secret that contains another is masked whole
        alternatives = sorted(self._forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(form) for form in alternatives))

    def mask(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def mask_bytes(self, data: bytes) -> str:
        return self.mask(data.decode("utf-8", errors="replace"))


class Secrets:
    """Resolves references through an injected resolver and remembers each value to mask it."""

    def __init__(self, resolver: SecretResolver, masker: SecretMasker | None = None) -> None:
        self._resolver = resolver
        self.masker = masker or SecretMasker()

    def resolve(self, text: str, encode: Callable[[str], str] = str) -> str:
        """The text with each reference replaced by its secret, encoded (e.g. for a URL)."""
        check_references(text)

        def value(match: re.Match[str]) -> str:
            secret = self._resolver(match.group(1), match.group(2))
            self.masker.add(secret)
            return encode(secret)

        return SECRET_REFERENCE.sub(value, text)

    def resolve_tree(self, data: Any) -> Any:
        """The same structure with every string's references resolved."""
        if isinstance(data, str):
            return self.resolve(data)
        if isinstance(data, Mapping):
            return {key: self.resolve_tree(item) for key, item in data.items()}
        if isinstance(data, list | tuple):
            return [self.resolve_tree(item) for item in data]
        return data

    def add_derived(self, value: str) -> None:
        """A value made from secrets at run time (an OAuth2 token, a Basic credential)."""
        self.masker.add(value)
