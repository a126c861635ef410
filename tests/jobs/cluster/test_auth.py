"""Which token a client sends to a Ray job server, and when: only to a server whose
public /api/authentication_mode says token, taken from where Ray's clients look, masked
in every message afterwards. (A real head with token authentication: test_submit.py.)"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs.cluster.auth import ClusterAuthError, auth_headers
from jobs.storage.redact import redact


@pytest.fixture
def job_server():
    """`job_server(mode)`: the address of an HTTP server answering like Ray's dashboard does."""
    servers = []

    def start(mode: str) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = json.dumps({"authentication_mode": mode}).encode()
                self.send_response(200 if self.path == "/api/authentication_mode" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()


def test_a_server_without_authentication_is_sent_no_token(job_server, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "a-token-for-another-cluster")
    assert auth_headers(job_server("disabled")) == ({}, None)


def test_the_token_comes_from_where_ray_looks_first_to_last(job_server, monkeypatch, tmp_path):
    address = job_server("token")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ClusterAuthError, match="uses token authentication and no token was found: set RAY_AUTH_TOKEN"):
        auth_headers(address)
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("token-in-home-0001\n")
    assert auth_headers(address) == ({"Authorization": "Bearer token-in-home-0001"}, str(tmp_path / ".ray" / "auth_token"))
    (tmp_path / "named").write_text("token-in-named-file-0002")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "named"))
    assert auth_headers(address)[0] == {"Authorization": "Bearer token-in-named-file-0002"}
    monkeypatch.setenv("RAY_AUTH_TOKEN", "token-in-variable-0003")
    assert auth_headers(address)[0] == {"Authorization": "Bearer token-in-variable-0003"}
    assert redact("sent token-in-variable-0003 and token-in-home-0001") == "sent *** and ***"


def test_a_token_path_that_names_no_file_is_an_error(job_server, monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(ClusterAuthError, match=f"RAY_AUTH_TOKEN_PATH is {tmp_path / 'missing'}, but there is no file there"):
        auth_headers(job_server("token"))
