"""Resolve ${secretsmanager:NAME} and ${ssm:NAME} through boto3 (the AWS side of secrets.py)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stresslab.targets.secrets import SecretError


class AwsSecretResolver:
    """A SecretResolver over Secrets Manager (SecretString) and SSM (decrypted parameters)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._clients: dict[str, Any] = {}

    def __call__(self, source: str, name: str) -> str:
        try:
            if source == "secretsmanager":
                answer = self._client("secretsmanager").get_secret_value(SecretId=name)
                value = answer.get("SecretString")
                if value is None:
                    raise SecretError(f"${{secretsmanager:{name}}} holds binary data, not text")
                return str(value)
            if source == "ssm":
                answer = self._client("ssm").get_parameter(Name=name, WithDecryption=True)
                return str(answer["Parameter"]["Value"])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise SecretError(f"${{{source}:{name}}} cannot be read: {code}") from None
        except BotoCoreError as error:
            reason = type(error).__name__
            raise SecretError(f"${{{source}:{name}}} cannot be read: {reason}") from None
        raise SecretError(f"${{{source}:{name}}}: not an AWS secret source")

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)
        return self._clients[service]
