"""Storage steps: transient errors are retried with backoff, permanent ones fail at once
in one line naming the spec field and the fix, anything else passes through unchanged;
S3 clients get retry settings the user did not set."""

import errno
import logging

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from jobs.storage import redact as redact_module
from jobs.storage import request_retries
from jobs.storage.request_retries import (STEP_ATTEMPTS, StorageError, is_permanent, is_transient, permanent_message,
                                          retrying, with_client_retries)


def client_error(code: str | None, status: int) -> ClientError:
    error = {"Code": code, "Message": "from the store"} if code else {}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def raised_from(cause: BaseException) -> OSError:
    """How s3fs reports a client error: its own OSError, raised from botocore's."""
    try:
        raise OSError("s3fs: request failed") from cause
    except OSError as err:
        return err


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff delays asked for, without waiting them."""
    asked: list[float] = []
    monkeypatch.setattr(request_retries.time, "sleep", asked.append)
    return asked


def steps(*outcomes):
    """A storage step that raises or returns each outcome in turn; `calls` counts them."""
    queue = list(outcomes)

    def step():
        step.calls += 1
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    step.calls = 0
    return step


def test_s3_options_get_client_retries_unless_the_user_set_them():
    user = {"key": "k", "config_kwargs": {"connect_timeout": 5}}
    options = with_client_retries("s3", user)
    assert options["config_kwargs"] == {"connect_timeout": 5, "retries": request_retries.S3_CLIENT_RETRIES}
    assert user == {"key": "k", "config_kwargs": {"connect_timeout": 5}}, "the user's options are not changed"
    own = {"config_kwargs": {"retries": {"mode": "adaptive", "max_attempts": 3}}}
    assert with_client_retries(("s3", "s3a"), own)["config_kwargs"]["retries"] == {"mode": "adaptive", "max_attempts": 3}
    gcs = {"token": "t"}
    assert with_client_retries(("gs", "gcs"), gcs) is gcs, "other clients retry by themselves"


@pytest.mark.parametrize("err", [
    client_error("AccessDenied", 403), client_error(None, 403), client_error("NoSuchBucket", 404),
    raised_from(client_error("InvalidAccessKeyId", 403)), raised_from(NoCredentialsError()),
    PermissionError("denied"), FileNotFoundError("The specified bucket does not exist"),
], ids=["access-denied", "http-403", "no-such-bucket", "wrapped-bad-key", "no-credentials", "permission", "no-bucket"])
def test_permanent_errors(err):
    assert is_permanent(err) and not is_transient(err)


@pytest.mark.parametrize("err", [
    client_error("SlowDown", 503), client_error(None, 500), client_error("InternalError", 500),
    client_error("BadGatewayFromProxy", 502),  # a code not known here, with a telling status
    raised_from(client_error("Throttling", 400)), ConnectionResetError("reset"), TimeoutError("slow"),
    OSError(errno.ETIMEDOUT, "timed out"), raised_from(ConnectionError("dropped")),
], ids=["slow-down", "http-500", "internal-error", "unknown-code-502", "wrapped-throttling", "reset", "timeout", "etimedout", "wrapped-connection"])
def test_transient_errors(err):
    assert is_transient(err) and not is_permanent(err)


@pytest.mark.parametrize("err", [FileNotFoundError("no such key: in/a.parquet"), ValueError("bad footer"),
                                 client_error("NoSuchKey", 404), OSError(errno.ENOSPC, "disk full")])
def test_other_errors_are_neither(err):
    assert not is_permanent(err) and not is_transient(err)


def test_permanent_messages_name_the_field_and_the_fix(monkeypatch):
    monkeypatch.setattr(redact_module, "_known_secrets", {"sekrit-key"})
    denied = permanent_message(client_error("AccessDenied", 403), field="output.uri", where="s3://bucket/out")
    assert denied.startswith("output.uri: storage refused access to s3://bucket/out: ")
    assert denied.endswith("(check the credentials in output.storage_options (or the AWS_* environment variables) "
                           "and the bucket's policy)")
    missing = permanent_message(client_error("NoSuchBucket", 404), field="input.uri", where="s3://gone/in")
    assert missing.endswith("(create the bucket or fix input.uri)")
    anonymous = permanent_message(raised_from(NoCredentialsError()), field="input.uri", where="s3://b/in")
    assert "set credentials in input.storage_options or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" in anonymous
    leaky = permanent_message(PermissionError("key sekrit-key refused"), field="output.uri", where="s3://u:p@b/out")
    assert "sekrit-key" not in leaky and "u:p@" not in leaky and "\n" not in leaky


def test_transient_errors_are_retried_with_growing_delays(sleeps, caplog):
    step = steps(client_error("SlowDown", 503), ConnectionResetError("reset"), "listed")
    with caplog.at_level(logging.WARNING, logger="k2batch"):
        assert retrying(step, field="input.uri", where="s3://b/in", what="listing the input") == "listed"
    assert step.calls == 3
    assert len(sleeps) == 2 and sleeps[1] == 2 * sleeps[0] > 0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and all(w.startswith("listing the input at s3://b/in: transient storage error") for w in warnings)


def test_a_transient_error_that_persists_is_raised_after_the_last_attempt(sleeps):
    last = client_error("ServiceUnavailable", 503)
    step = steps(*[client_error("SlowDown", 503)] * (STEP_ATTEMPTS - 1), last)
    with pytest.raises(ClientError) as raised:
        retrying(step, field="output.uri", where="s3://b/out", what="writing the manifest")
    assert raised.value is last and step.calls == STEP_ATTEMPTS and len(sleeps) == STEP_ATTEMPTS - 1


def test_a_permanent_error_fails_at_once_as_a_storage_error(sleeps):
    denied = client_error("AccessDenied", 403)
    step = steps(denied, "never reached")
    with pytest.raises(StorageError, match=r"^output\.uri: storage refused access to s3://b/out") as raised:
        retrying(step, field="output.uri", where="s3://b/out", what="publishing a unit")
    assert raised.value.__cause__ is denied and step.calls == 1 and sleeps == []


@pytest.mark.parametrize("err", [ValueError("bad footer"), StorageError("output.uri: already explained")])
def test_anything_else_passes_through_unchanged(sleeps, err):
    step = steps(err, "never reached")
    with pytest.raises(type(err)) as raised:
        retrying(step, field="output.uri", where="s3://b/out", what="reading the manifest")
    assert raised.value is err and step.calls == 1 and sleeps == []
