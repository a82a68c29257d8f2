"""The dashboard's HTTP hardening, kept apart from the app it guards.

- Every response carries a Content-Security-Policy (scripts only from the server itself and
  Dash's own inline bootstrap, by hash; no framing, no plugins, no foreign connections),
  `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.
- A request whose `Host` header names a host the dashboard does not answer to is refused (400):
  a DNS-rebinding page on another site would reach a 127.0.0.1 dashboard under its own domain
  name. Allowed: `localhost` and loopback names, any IP address literal (a rebinding page cannot
  send one), this machine's host names, the interface it was started on, and the names in
  `$HPSEARCH_DASHBOARD_HOSTS` (comma-separated, e.g. `hpsearch.example.org`).
- `bind_warning` says what binding beyond loopback exposes (`hpsearch dashboard --host`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable

import dash
import flask

HOSTS_ENV = "HPSEARCH_DASHBOARD_HOSTS"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def _host_name(host_header: str) -> str:
    """`example.org:8050` -> `example.org`, `[::1]:8050` -> `::1`, lowercased."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def allowed_hosts(bind: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names (not IP literals, which are always allowed) a request may name."""
    names = set(LOOPBACK_NAMES)
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower())
    if bind and bind not in _WILDCARDS:
        names.add(_host_name(bind))
    names.update(_host_name(n) for n in os.environ.get(HOSTS_ENV, "").split(",") if n.strip())
    names.update(_host_name(n) for n in extra)
    return frozenset(names)


def host_allowed(host_header: str | None, allowed: frozenset[str]) -> bool:
    if not host_header:
        return False
    host = _host_name(host_header)
    return _is_ip(host) or host in allowed


def content_security_policy(app: dash.Dash) -> str:
    script = " ".join(["'self'", *app.csp_hashes()])  # hashes come quoted
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {script}",
            "style-src 'self' 'unsafe-inline'",  # the page's <style> and React's style props
            "img-src 'self' data: blob:",  # Plotly draws and exports through data: URIs
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


_CONFIG_KEY = "HPSEARCH_ALLOWED_HOSTS"


def secure(app: dash.Dash, *, bind: str | None = None, hosts: Iterable[str] = ()) -> dash.Dash:
    """Add the headers and the Host check to `app`'s server; returns `app`."""
    app.server.config[_CONFIG_KEY] = set(allowed_hosts(bind, hosts))
    policy: list[str] = []  # computed at the first response, once Dash knows its scripts

    @app.server.before_request
    def _check_host() -> flask.Response | None:
        allowed = frozenset(app.server.config[_CONFIG_KEY])
        if host_allowed(flask.request.headers.get("Host"), allowed):
            return None
        return flask.Response(
            f"This dashboard does not answer to that host name. Open it by IP address or "
            f"localhost, or add the name to ${HOSTS_ENV}.\n",
            status=400,
            mimetype="text/plain",
        )

    @app.server.after_request
    def _headers(response: flask.Response) -> flask.Response:
        if not policy:
            policy.append(content_security_policy(app))
        response.headers.setdefault("Content-Security-Policy", policy[0])
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app


def allow_bind_host(app: dash.Dash, bind: str) -> None:
    """Also answer to the name the server is bound to (`hpsearch dashboard --host NAME`)."""
    if bind not in _WILDCARDS:
        app.server.config[_CONFIG_KEY].add(_host_name(bind))


def bind_warning(host: str) -> str | None:
    """A warning for a dashboard bound beyond loopback, or None."""
    name = _host_name(host)
    if name in LOOPBACK_NAMES:
        return None
    try:
        if ipaddress.ip_address(name).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"Warning: the dashboard listens on {host}, beyond this machine: anyone who can reach "
        "that address sees every study in the storage (there is no login). Bind to "
        "127.0.0.1 and use an SSH tunnel, or put it behind an authenticating proxy."
    )
