"""The dashboard's HTTP hardening (`dashboards/security.py`): CSP and frame headers on every
response, the Host check against DNS rebinding, and the warning for a non-loopback bind."""

from __future__ import annotations

from pathlib import Path

import dash
import pytest
from test_run_cli import cli

from dashboards.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> object:
    url = f"sqlite:///{tmp_path_factory.mktemp('board') / 'none.db'}"
    return create_app(url).server.test_client()


@pytest.mark.parametrize("path", ["/", "/_dash-layout", "/_dash-dependencies"])
def test_every_response_forbids_framing_and_foreign_scripts(client: object, path: str) -> None:
    response = client.get(path, headers={"Host": "127.0.0.1:8050"})  # type: ignore[attr-defined]
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    script = next(p for p in policy.split("; ") if p.startswith("script-src "))
    assert "'self'" in script and "'sha256-" in script and "unsafe-inline" not in script
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8050", 200),
        ("localhost:8050", 200),
        ("[::1]:8050", 200),
        ("192.168.1.20:8050", 200),  # an address literal: no rebinding page can send it
        ("attacker.example:8050", 400),  # a rebinding page's own name, resolved to 127.0.0.1
        ("localhost.attacker.example", 400),
    ],
)
def test_a_host_header_the_dashboard_does_not_answer_to_is_refused(
    client: object, host: str, status: int
) -> None:
    response = client.get("/_dash-layout", headers={"Host": host})  # type: ignore[attr-defined]
    assert response.status_code == status
    if status == 400:
        assert "study" not in response.get_data(as_text=True)


def test_named_hosts_can_be_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards.security import allow_bind_host

    monkeypatch.setenv("HPSEARCH_DASHBOARD_HOSTS", "board.example.org, other.example")
    app = create_app(f"sqlite:///{tmp_path / 'none.db'}")
    allow_bind_host(app, "dash.internal")
    client = app.server.test_client()
    for host in ("board.example.org:8050", "other.example", "dash.internal:8050"):
        assert client.get("/_dash-layout", headers={"Host": host}).status_code == 200, host
    assert client.get("/_dash-layout", headers={"Host": "x.example"}).status_code == 400


def test_binding_beyond_loopback_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dash.Dash, "run", lambda self, **kwargs: None)
    url = f"sqlite:///{tmp_path / 'none.db'}"
    (tmp_path / "none.db").touch()
    assert cli("dashboard", "--storage", url, cwd=tmp_path) == 0
    assert "Warning" not in capsys.readouterr().err
    assert cli("dashboard", "--storage", url, "--host", "0.0.0.0", cwd=tmp_path) == 0
    err = capsys.readouterr().err
    assert "Warning: the dashboard listens on 0.0.0.0, beyond this machine" in err
