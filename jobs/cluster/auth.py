"""Ray's token authentication, from the client's side of a job server.

Ray 2.60 turns token authentication on for a head started where a token exists (a local
`ray.init()` writes one to ~/.ray/auth_token), while its clients send a token only with
RAY_AUTH_MODE=token. k2batch asks the server instead: the dashboard's public
/api/authentication_mode says whether it wants a token, and then one is taken from where
Ray's own clients look (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token) and sent
as a bearer header. A server that wants none is never sent one. The token joins the
masked secrets (jobs/storage/redact.py).
"""

import os
from pathlib import Path

from jobs.storage.redact import register_secret

TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_PATH = "~/.ray/auth_token"
WHERE_TOKENS_GO = (f"set {TOKEN_ENV} to the cluster's token, or {TOKEN_PATH_ENV} to a file holding it "
                   f"(default {DEFAULT_TOKEN_PATH}); `ray get-auth-token` on the head node prints it")


class ClusterAuthError(ValueError):
    """The job server wants a token that is not at hand, or refused the one sent."""


def server_wants_token(address: str, timeout_s: float = 10) -> bool:
    """Whether the job server at `address` runs with token authentication."""
    import requests

    try:
        response = requests.get(f"{address.rstrip('/')}/api/authentication_mode", timeout=timeout_s)
    except requests.exceptions.RequestException as err:
        raise ConnectionError(f"cannot reach the Ray job server at {address}: {type(err).__name__}") from err
    if response.status_code == 404:  # a Ray from before token authentication
        return False
    response.raise_for_status()
    return response.json().get("authentication_mode") == "token"


def find_token() -> tuple[str, str] | None:
    """The token and where it came from, looked for where Ray's clients look."""
    if token := os.environ.get(TOKEN_ENV, "").strip():
        return token, TOKEN_ENV
    if named := os.environ.get(TOKEN_PATH_ENV):
        path = Path(named).expanduser()
        if not path.is_file():
            raise ClusterAuthError(f"{TOKEN_PATH_ENV} is {named}, but there is no file there; {WHERE_TOKENS_GO}")
        return path.read_text().strip(), f"{TOKEN_PATH_ENV} ({named})"
    path = Path(DEFAULT_TOKEN_PATH).expanduser()
    if path.is_file():
        return path.read_text().strip(), str(path)
    return None


def auth_headers(address: str) -> tuple[dict[str, str], str | None]:
    """The headers every request to the job server at `address` carries, and where their
    token came from (None when the server wants none)."""
    if not server_wants_token(address):
        return {}, None
    found = find_token()
    if found is None:
        raise ClusterAuthError(f"the Ray cluster at {address} uses token authentication and no token was found: "
                               f"{WHERE_TOKENS_GO}")
    token, source = found
    register_secret(token)
    return {"Authorization": f"Bearer {token}"}, source


def refused(address: str, source: str | None) -> ClusterAuthError:
    """The error for a job server that answered 401/403 to our request."""
    if source is None:
        return ClusterAuthError(f"the Ray cluster at {address} asks for a token: {WHERE_TOKENS_GO}")
    return ClusterAuthError(f"the Ray cluster at {address} refused the token from {source} (another cluster's, "
                            f"or an old one); {WHERE_TOKENS_GO}")
