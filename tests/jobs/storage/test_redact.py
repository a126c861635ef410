"""Secrets stay out of every message: values under secret-looking option names at any
depth, the AWS variables s3fs falls back to, tokens registered by hand, and the
user:password@ of a URL."""

import pytest

from jobs.storage import redact as redact_module
from jobs.storage.redact import MASK, is_secret_name, redact, register_secret, register_secrets, secret_values


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch):
    """Each test starts with none registered (the registry lives for the process)."""
    monkeypatch.setattr(redact_module, "_known_secrets", set())
    for name in redact_module.SECRET_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("name", ["key", "aws_secret_access_key", "SessionToken", "db_password", "passwd", "credentials_file",
                                  "x-amz-signature"])
def test_names_that_hold_secrets(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["endpoint_url", "anon", "region_name", "use_ssl", "profile"])
def test_names_that_do_not(name):
    assert not is_secret_name(name)


def test_secret_values_are_found_at_any_depth_and_in_lists():
    options = {
        "endpoint_url": "http://127.0.0.1:9000",  # not a secret: stays readable in errors
        "client_kwargs": {"aws_session_token": "tok-123456", "region_name": "eu-west-1"},
        "keys": ["first-key-1", ("second-key-2",)],
        "secret": "abc",  # too short to mask without masking every "abc" in a message
        "token": 12345678,  # not a string
    }
    assert secret_values(options) == {"tok-123456", "first-key-1", "second-key-2"}
    assert secret_values({"keys": []}) == set() and secret_values("top-level-string") == set()


def test_registered_options_and_aws_variables_are_masked(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "abc")  # too short: left alone
    register_secrets({"key": "opt-key-value", "endpoint_url": "http://minio:9000"})
    assert redact("key opt-key-value, secret env-secret-value at http://minio:9000 abc") == \
        f"key {MASK}, secret {MASK} at http://minio:9000 abc"


def test_a_secret_that_contains_another_is_masked_whole():
    register_secret("abcd")
    register_secret("abcd-efgh-ijkl")
    assert redact("token abcd-efgh-ijkl and abcd") == f"token {MASK} and {MASK}"


def test_a_short_value_is_never_registered():
    register_secret("ab1")
    assert redact("ab1 stays") == "ab1 stays"


def test_url_userinfo_is_masked_but_not_an_email_address():
    text = "reading s3://AKIA:topsecret@bucket/x, https://user@host/path, mail ops@example.com"
    assert redact(text) == f"reading s3://{MASK}@bucket/x, https://{MASK}@host/path, mail ops@example.com"
