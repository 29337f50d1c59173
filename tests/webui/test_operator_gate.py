"""The page's door checks on their own: Host parsing, Origin/Referer, signed sessions that cannot be forged."""

from __future__ import annotations

from starlette.requests import Request

from webui.operator import SESSION_COOKIE, OperatorGate

TOKEN = "operator-token-0123456789"


def request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/ui/x", "headers": raw, "query_string": b""})


def test_host_must_be_the_one_in_ui_base_url() -> None:
    gate = OperatorGate(TOKEN, "http://127.0.0.1:8080/ui")
    assert gate.host_allowed(request({"Host": "127.0.0.1:8080"}))
    for host in ("evil.example:8080", "127.0.0.1:8081", "127.0.0.1", "localhost:8080", "127.0.0.1:8080:1", ""):
        assert not gate.host_allowed(request({"Host": host})), host
    default_port = OperatorGate(TOKEN, "https://desk.example/ui")
    assert default_port.host_allowed(request({"Host": "DESK.example"}))
    assert default_port.host_allowed(request({"Host": "desk.example:443"}))
    assert not default_port.host_allowed(request({"Host": "desk.example:80"}))


def test_origin_or_referer_must_be_the_page() -> None:
    gate = OperatorGate(TOKEN, "http://127.0.0.1:8080/ui")
    assert gate.origin_allowed(request({"Origin": "http://127.0.0.1:8080"}))
    assert gate.origin_allowed(request({"Referer": "http://127.0.0.1:8080/ui/approvals/1"}))
    for headers in ({"Origin": "http://127.0.0.1:80801"}, {"Origin": "null"}, {"Referer": "http://127.0.0.1:80801/"},
                    {"Origin": "http://evil.example", "Referer": "http://127.0.0.1:8080/ui"}, {}):
        assert not gate.origin_allowed(request(headers)), headers


def test_sessions_cannot_be_forged_or_carried_to_another_token() -> None:
    gate = OperatorGate(TOKEN, "http://127.0.0.1:8080/ui")
    session_id, cookie = gate.new_session_cookie()
    session = gate.session(request({"Cookie": f"{SESSION_COOKIE}={cookie}"}))
    assert session is not None and session.session_id == session_id
    assert gate.csrf_valid(session, session.csrf_token) and not gate.csrf_valid(session, "0" * 64)
    sid, expires, signature = cookie.split(".")
    for forged in (f"{sid}.{int(expires) + 10}.{signature}", f"{'0' * 32}.{expires}.{signature}", "x", ""):
        assert gate.session(request({"Cookie": f"{SESSION_COOKIE}={forged}"})) is None, forged
    rotated = OperatorGate("another-operator-token-987", "http://127.0.0.1:8080/ui")
    assert rotated.session(request({"Cookie": f"{SESSION_COOKIE}={cookie}"})) is None
    assert not OperatorGate(None, "http://127.0.0.1:8080/ui").token_matches("")
