"""Fixtures for jobs tests: a real S3 server (moto on 127.0.0.1), buckets, a proxy that
fails requests in front of it, and demo data uploaded to S3."""

import uuid
from pathlib import Path

import pytest

from tests.s3_server import TEST_KEY, TEST_SECRET, FaultyProxy, Faults, MotoS3


@pytest.fixture(scope="session")
def s3_server():
    server = MotoS3()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server) -> str:
    """A fresh, empty bucket for one test."""
    return s3_server.make_bucket(f"k2batch-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def s3_options(s3_server) -> dict:
    """Storage options for the moto server, credentials included."""
    return {"endpoint_url": s3_server.endpoint_url, "key": TEST_KEY, "secret": TEST_SECRET}


@pytest.fixture
def faulty_proxy(s3_server):
    """`faulty_proxy(Faults(...))`: a proxy to the moto server; stopped after the test."""
    proxies = []

    def start(faults: Faults) -> FaultyProxy:
        proxies.append(FaultyProxy(s3_server.endpoint_url, faults))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.stop()


def upload_folder(s3_server: MotoS3, folder: Path, bucket: str, prefix: str) -> str:
    """Put every file of `folder` under s3://bucket/prefix/ and return that URL."""
    client = s3_server.client()
    for path in sorted(folder.iterdir()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.name}")
    return f"s3://{bucket}/{prefix}/"


from tests.jobs.finished_job import finished_job  # noqa: E402,F401 - a session fixture of tests/jobs/
