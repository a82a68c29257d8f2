"""Storage URLs as every message shows them: no credential a URL can carry is ever printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_run_cli import SMOKE, _closed_port, cli

from hpsearch.storage.urls import redact_url, scrub

SECRETS = ("Pa55-user-info", "Qu3ry-password", "Ssl-pa55phrase", "T0ken-value")


def _url(host: str = "db.example") -> str:
    return (
        f"postgresql+psycopg://hp:{SECRETS[0]}@{host}/hpsearch?password={SECRETS[1]}"
        f"&sslpassword={SECRETS[2]}&sslmode=require&auth_token={SECRETS[3]}"
    )


def test_every_credential_of_a_url_is_hidden() -> None:
    shown = redact_url(_url())
    assert not any(secret in shown for secret in SECRETS), shown
    assert shown.startswith("postgresql+psycopg://hp:***@db.example/hpsearch?")
    assert "password=***" in shown and "sslpassword=***" in shown and "auth_token=***" in shown
    assert "sslmode=require" in shown  # what is no secret stays readable
    assert redact_url("sqlite:///hpsearch.db") == "sqlite:///hpsearch.db"
    # Not a URL SQLAlchemy reads (the scheme forgotten): the same credentials still hidden.
    bare = redact_url(f"hp:{SECRETS[0]}@db/x?password={SECRETS[1]}&a=1")
    assert bare == "hp:***@db/x?password=***&a=1"
    said = f"connection failed: password {SECRETS[1]} refused (dsn sslpassword={SECRETS[2]})"
    assert not any(secret in scrub(said, _url()) for secret in SECRETS)


def test_run_dry_run_and_errors_show_no_query_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(f"127.0.0.1:{_closed_port()}")
    for verb in (["run", str(SMOKE), "--dry-run"], ["list"], ["status", "smoke"]):
        assert cli(*verb, "--storage", url, cwd=tmp_path) == 3, verb
        captured = capsys.readouterr()
        assert not any(s in captured.err + captured.out for s in SECRETS), captured.err
        assert "hp:***@" in captured.err
    sqlite = f"sqlite:///{tmp_path / 'x.db'}?password={SECRETS[1]}"
    assert cli("run", str(SMOKE), "--storage", sqlite, "--dry-run", cwd=tmp_path) == 0
    captured = capsys.readouterr()
    assert SECRETS[1] not in captured.err and "password=***" in captured.err
