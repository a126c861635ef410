"""A real S3-compatible server for tests: moto on 127.0.0.1, and a small HTTP proxy in
front of it that fails some requests the way a struggling object store does, answers
each one late, as a remote store does (benchmarks/planning.py), or holds some unanswered,
as a hung connection does (tests/jobs/driver/test_stalls.py).

Both listen on free ports of 127.0.0.1, so Ray workers and `k2batch` subprocesses reach
them like any endpoint. Buckets are made with boto3 in us-east-1: s3fs's mkdir sends a
location constraint that moto rejects.
"""

import http.client
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from moto.server import ThreadedMotoServer

# moto accepts any credentials; these are distinctive so tests can grep for leaks.
TEST_KEY = "AKIAK2BATCHTESTKEY01"
TEST_SECRET = "k2batch-test-secret-DO-NOT-LEAK-0123456789"

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class MotoS3:
    """moto's S3 in a thread of this process, on a free port."""

    def __init__(self):
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def client(self, endpoint_url: str | None = None):
        import boto3

        return boto3.client(
            "s3", region_name="us-east-1", endpoint_url=endpoint_url or self.endpoint_url,
            aws_access_key_id=TEST_KEY, aws_secret_access_key=TEST_SECRET,
        )

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def stop(self) -> None:
        self._server.stop()


@dataclass
class Faults:
    """Which requests fail: a seeded fraction, at most `limit` in all and `max_in_a_row`
    in a row, so that a client that retries with backoff always gets through. Every
    request is answered `latency_s` late."""

    fraction: float
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."
    limit: int = 1_000_000
    max_in_a_row: int = 2
    seed: int = 0
    latency_s: float = 0.0
    requests: int = 0
    failed: int = 0
    _in_a_row: int = 0
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self):
        self._rng = random.Random(self.seed)

    def should_fail(self) -> bool:
        with self._lock:
            self.requests += 1
            fail = self._rng.random() < self.fraction and self.failed < self.limit and self._in_a_row < self.max_in_a_row
            self.failed += fail
            self._in_a_row = self._in_a_row + 1 if fail else 0
            return fail


class FaultyProxy:
    """HTTP proxy to an S3 endpoint that answers some requests with an S3 error instead.
    `hold`, when set (it may be set at any time), is asked `(method, path)` of each
    request and keeps those it says yes to unanswered until the proxy stops: a store
    that hangs, as a stalled connection does."""

    def __init__(self, upstream: str, faults: Faults):
        host, port = upstream.removeprefix("http://").split(":")
        self.faults = faults
        self.hold: Callable[[str, str], bool] | None = None
        self.held = 0
        self.released = threading.Event()
        handler = _handler(host, int(port), faults, self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler(upstream_host: str, upstream_port: int, faults: Faults, proxy: FaultyProxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output readable
            pass

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    chunk = self.rfile.read(size)
                    self.rfile.readline()
                    if size == 0:
                        return b"".join(chunks)
                    chunks.append(chunk)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _forward(self):
            body = self._body()  # always drain the request, even one that will fail
            hold = proxy.hold
            if hold is not None and hold(self.command, self.path):
                proxy.held += 1
                proxy.released.wait()
                return
            time.sleep(faults.latency_s)
            if faults.should_fail():
                error = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{faults.code}</Code>"
                         f"<Message>{faults.message}</Message></Error>").encode()
                self.send_response(faults.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(error)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(error)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            upstream = http.client.HTTPConnection(upstream_host, upstream_port, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length", "server", "date"}:
                        self.send_header(name, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                upstream.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    return Handler


def committed_ids(uri: str, storage_options: dict, id_column: str = "doc_id") -> list[str]:
    """Every id in the committed records and rejects (as the manifest lists them), sorted,
    duplicates kept: a test compares it with the input's ids."""
    from jobs.storage.committed import read_committed

    ids = []
    for kind in ("records", "rejects"):
        table = read_committed(uri, kind, storage_options)
        if table is not None:
            ids += table.column(id_column).to_pylist()
    return sorted(ids)
