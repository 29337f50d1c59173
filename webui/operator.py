"""Who may decide on the /ui page: the holder of OPERATOR_TOKEN, in a browser, on this origin.

The token is typed once on the login form; the browser then keeps a signed session cookie
(HttpOnly, SameSite=Strict). Every state-changing form carries a CSRF token derived from
that session, and requests must come to the configured host from the configured origin.
Nothing here is ever shown to the model: the links it receives carry no credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from mcp_tools.http_guard import split_host

SESSION_COOKIE = "tradeexec_operator"
LOGIN_COOKIE = "tradeexec_login"
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class OperatorSession:
    session_id: str
    csrf_token: str


class OperatorGate:
    """Signs and checks operator sessions and CSRF tokens with a key derived from OPERATOR_TOKEN."""

    def __init__(self, operator_token: str | None, base_url: str) -> None:
        self._token = operator_token
        self._key = hmac.new((operator_token or "").encode(), b"tradeexec-ui-v1", hashlib.sha256).digest()
        parts = urlsplit(base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}".lower()
        self.host = parts.netloc.lower()
        self.path = parts.path.rstrip("/") or "/"
        self.secure_cookies = parts.scheme == "https"

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()

    # --- login ------------------------------------------------------------------------------
    def token_matches(self, offered: str) -> bool:
        if not self._token:
            return False
        return hmac.compare_digest(offered.encode(), self._token.encode())

    def new_login_nonce(self) -> tuple[str, str]:
        """A nonce for the login cookie and the form token bound to it (login CSRF)."""
        nonce = secrets.token_hex(16)
        return nonce, self._sign("login", nonce)

    def login_form_valid(self, request: Request, form_token: str) -> bool:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        return bool(nonce) and hmac.compare_digest(form_token.encode(), self._sign("login", nonce).encode())

    def new_session_cookie(self) -> tuple[str, str]:
        """(session id, cookie value): the id is what the audit trail records."""
        session_id = secrets.token_hex(16)
        expires = str(int(time.time()) + SESSION_SECONDS)
        return session_id, f"{session_id}.{expires}.{self._sign('session', session_id + '.' + expires)}"

    # --- every later request -------------------------------------------------------------------
    def session(self, request: Request) -> OperatorSession | None:
        """The operator's session from the cookie, or None when absent, forged or expired."""
        if not self.enabled:
            return None
        value = request.cookies.get(SESSION_COOKIE, "")
        parts = value.split(".")
        if len(parts) != 3:
            return None
        session_id, expires, signature = parts
        expected = self._sign("session", f"{session_id}.{expires}")
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        if not expires.isdigit() or int(expires) < time.time():
            return None
        return OperatorSession(session_id, self._sign("csrf", session_id))

    def csrf_valid(self, session: OperatorSession, form_token: str) -> bool:
        return hmac.compare_digest(form_token.encode(), session.csrf_token.encode())

    def host_allowed(self, request: Request) -> bool:
        """DNS rebinding: only the host named in UI_BASE_URL is served (parsed as the MCP guard parses it)."""
        offered = self._with_default_port(split_host(request.headers.get("host", "")))
        return offered is not None and offered == self._with_default_port(split_host(self.host))

    def _with_default_port(self, parsed: tuple[str, int | None] | None) -> tuple[str, int] | None:
        if parsed is None:
            return None
        name, port = parsed
        return name, port if port is not None else (443 if self.secure_cookies else 80)

    def origin_allowed(self, request: Request) -> bool:
        """A state-changing request must say it comes from this page's origin (Origin, else Referer)."""
        origin = request.headers.get("origin")
        if origin is not None:
            return origin.lower() == self.origin
        referer = request.headers.get("referer")
        return referer is not None and (referer.lower() + "/").startswith(self.origin + "/")
