"""A table's store credentials default to `output.storage_options`' (s3fs's keys), so that
a user configures an object store once: translated here into pyiceberg's FileIO
properties and into delta-rs's storage options. What the user gives in
`output.table.catalog` / `output.table.storage_options` wins."""

import os
from typing import Any

# s3fs option -> (pyiceberg FileIO property, delta-rs storage option)
_S3_KEYS = {
    "endpoint_url": ("s3.endpoint", "AWS_ENDPOINT_URL"),
    "key": ("s3.access-key-id", "AWS_ACCESS_KEY_ID"),
    "secret": ("s3.secret-access-key", "AWS_SECRET_ACCESS_KEY"),
    "token": ("s3.session-token", "AWS_SESSION_TOKEN"),
}


def _region(storage_options: dict[str, Any]) -> str | None:
    region = (storage_options.get("client_kwargs") or {}).get("region_name")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    # A custom endpoint (MinIO, a test server) has no region to look up: without one, the
    # clients ask AWS for the bucket's region, which such a store cannot answer.
    return region or ("us-east-1" if storage_options.get("endpoint_url") else None)


def iceberg_file_io(storage_options: dict[str, Any]) -> dict[str, str]:
    """pyiceberg FileIO properties from s3fs options."""
    props = {iceberg: str(storage_options[name]) for name, (iceberg, _) in _S3_KEYS.items() if storage_options.get(name)}
    if region := _region(storage_options):
        props["s3.region"] = region
    return props


def delta_storage_options(storage_options: dict[str, Any]) -> dict[str, str]:
    """delta-rs storage options from s3fs options."""
    options = {delta: str(storage_options[name]) for name, (_, delta) in _S3_KEYS.items() if storage_options.get(name)}
    if region := _region(storage_options):
        options["AWS_REGION"] = region
    if str(storage_options.get("endpoint_url", "")).startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"
    return options
