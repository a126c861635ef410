"""The fsspec filesystem of a spec's URI, with its storage options and client retries."""

import fsspec

from jobs.storage.redact import register_secrets
from jobs.storage.request_retries import with_client_retries


def filesystem_for(uri: str, storage_options: dict) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of `uri` with the user's options (credentials, endpoint_url; s3fs
    falls back to the AWS environment variables) and client retries set."""
    register_secrets(storage_options)
    protocol = fsspec.core.split_protocol(uri)[0] or "file"
    fs, path = fsspec.core.url_to_fs(uri, **with_client_retries(protocol, storage_options))
    return fs, path
