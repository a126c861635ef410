"""Keep storage credentials out of logs, summary.json and error messages.

Secrets come from `input.storage_options` / `output.storage_options` (any key whose
name says key, secret, token, password or credential, at any depth), from the AWS
environment variables s3fs falls back to, and from Ray's authentication token
(jobs/cluster/auth.py). They are registered when a filesystem is made or a token is
used, so `redact()` at the CLI boundary can scrub any message, including ones that
storage libraries wrote.
"""

import os
import re
from typing import Any

SECRET_NAME_PARTS = ("key", "secret", "token", "password", "passwd", "credential", "signature")
SECRET_ENV_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "RAY_AUTH_TOKEN")
MASK = "***"
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
_known_secrets: set[str] = set()


def is_secret_name(name: str) -> bool:
    return any(part in name.lower() for part in SECRET_NAME_PARTS)


def secret_values(options: Any, *, under_secret: bool = False) -> set[str]:
    """String values stored under secret-looking names, at any depth of the options."""
    if isinstance(options, dict):
        found = set()
        for name, value in options.items():
            found |= secret_values(value, under_secret=under_secret or is_secret_name(str(name)))
        return found
    if isinstance(options, (list, tuple)):
        return set().union(*(secret_values(v, under_secret=under_secret) for v in options)) if options else set()
    if under_secret and isinstance(options, str) and len(options) >= 4:
        return {options}
    return set()


def register_secrets(storage_options: dict) -> None:
    """Remember the secrets of these options (and the AWS environment) for `redact`."""
    _known_secrets.update(secret_values(storage_options))
    _known_secrets.update(v for name in SECRET_ENV_VARS if len(v := os.environ.get(name, "")) >= 4)


def register_secret(value: str) -> None:
    """Mask `value` from now on (a token read from a file, say)."""
    if len(value) >= 4:
        _known_secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret and any user:password@ in URLs masked."""
    for secret in sorted(_known_secrets, key=len, reverse=True):  # longest first: one may contain another
        text = text.replace(secret, MASK)
    return _URL_USERINFO.sub(rf"\1{MASK}@", text)
