"""Storage calls that ride out a struggling object store and fail in one line when
retrying cannot help.

Two layers, so that no request is retried by hand that the client already retries:
- The client's own retries, configured here: for S3, botocore's `standard` mode retries
  HTTP 5xx, throttling (SlowDown, 429) and dropped connections with exponential backoff
  and jitter, on the driver and on every Ray worker (the options travel with the
  pickled filesystem). s3fs adds its own loop (5 tries) for connection-level errors.
- `retrying()` around the driver's storage steps (listing the input, reading and
  writing the manifest, publishing a unit): it retries what still got through as
  transient, and turns permanent errors (no such bucket, access denied, no
  credentials) into a `StorageError` that names the spec field, at once.
"""

import errno
import logging
import time
from typing import Callable, TypeVar

from jobs.storage.redact import redact

log = logging.getLogger("k2batch")
T = TypeVar("T")

S3_PROTOCOLS = {"s3", "s3a"}
S3_CLIENT_RETRIES = {"mode": "standard", "max_attempts": 10}
STEP_ATTEMPTS = 4
STEP_BACKOFF_SECONDS = 0.5

TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "RequestTimeout", "InternalError", "ServiceUnavailable", "ServiceUnavailableException", "503", "500", "502", "504",
}
PERMANENT_CODES = {
    "AccessDenied", "AllAccessDisabled", "AccountProblem", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "NoSuchBucket", "403",
}
TRANSIENT_ERRNOS = {errno.EBUSY, errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE,
                    getattr(errno, "EREMOTEIO", errno.EIO)}


class StorageError(RuntimeError):
    """Storage refused in a way that retrying cannot fix; the message names the field."""


def with_client_retries(protocol: str | tuple, storage_options: dict) -> dict:
    """The user's storage options, plus the client retry settings they did not set."""
    protocols = {protocol} if isinstance(protocol, str) else set(protocol)
    if not protocols & S3_PROTOCOLS:
        return storage_options  # gcsfs and adlfs retry transient errors by themselves
    options = dict(storage_options)
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("retries", dict(S3_CLIENT_RETRIES))
    options["config_kwargs"] = config
    return options


def _causes(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _error_codes(err: BaseException) -> set[str]:
    """The S3 error code and HTTP status of a botocore ClientError, if one caused `err`
    (both: a code this module does not know may come with a telling status, e.g. 502)."""
    for cause in _causes(err):
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code")
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            return {str(value) for value in (code, status) if value is not None}
    return set()


def is_permanent(err: BaseException) -> bool:
    if _error_codes(err) & PERMANENT_CODES:
        return True
    names = {type(cause).__name__ for cause in _causes(err)}
    if names & {"NoCredentialsError", "PartialCredentialsError", "NoSuchBucket"}:
        return True
    if isinstance(err, PermissionError):
        return True
    return isinstance(err, FileNotFoundError) and "bucket does not exist" in str(err).lower()


def is_transient(err: BaseException) -> bool:
    if is_permanent(err):
        return False
    codes = _error_codes(err)
    if codes & TRANSIENT_CODES or any(code.startswith("5") for code in codes):
        return True
    for cause in _causes(err):
        if isinstance(cause, (ConnectionError, TimeoutError)):
            return True
        if type(cause).__name__ in {"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError",
                                    "ConnectTimeoutError", "ServerDisconnectedError", "ClientOSError"}:
            return True
        if isinstance(cause, OSError) and cause.errno in TRANSIENT_ERRNOS:
            return True
    return False


def permanent_message(err: BaseException, *, field: str, where: str) -> str:
    detail = redact(str(err) or type(err).__name__)
    options = field.rsplit(".", 1)[0] + ".storage_options"
    if isinstance(err, FileNotFoundError) or "NoSuchBucket" in _error_codes(err):
        fix = f"create the bucket or fix {field}"
    elif any(type(c).__name__ in {"NoCredentialsError", "PartialCredentialsError"} for c in _causes(err)):
        fix = f"set credentials in {options} or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables"
    else:
        fix = f"check the credentials in {options} (or the AWS_* environment variables) and the bucket's policy"
    return f"{field}: storage refused access to {redact(where)}: {detail} ({fix})"


def retrying(step: Callable[[], T], *, field: str, where: str, what: str) -> T:
    """Run one idempotent storage step: retry transient errors with backoff, fail fast
    with a `StorageError` on permanent ones, re-raise anything else unchanged."""
    attempt = 1
    while True:
        try:
            return step()
        except StorageError:
            raise
        except Exception as err:  # classified below; anything unknown is re-raised as is
            if is_permanent(err):
                raise StorageError(permanent_message(err, field=field, where=where)) from err
            if not is_transient(err) or attempt == STEP_ATTEMPTS:
                raise
            delay = STEP_BACKOFF_SECONDS * 2 ** (attempt - 1)
            log.warning("%s at %s: transient storage error (%s), retry %d of %d in %.1f s",
                        what, redact(where), redact(str(err)), attempt, STEP_ATTEMPTS - 1, delay)
            time.sleep(delay)
            attempt += 1
