"""``workbench serve``: the app in a browser (textual-serve), driven only by the person who started it.

textual-serve alone accepts any page's websocket: a web page the user visits can open
``ws://localhost:8000/ws`` (browsers do not apply the same-origin policy to websockets) and type into
the app; with DNS rebinding even a plain HTTP request with ``Host: evil.example`` is served. So every
request passes ``guard`` first:

* **Host** must be the address the server was started for (``localhost:8000``, its loopback aliases,
  or the ``--public-url`` host): a rebound DNS name is refused.
* **Origin** of a websocket upgrade must be the served origin: another site's page is refused.
* **A secret token**, made per launch and printed once with the URL (as Jupyter does), is required for
  the page and the socket: in the URL's query the first time, then from a ``SameSite=Strict`` cookie
  that other sites' requests never carry.

Static files (the page's JavaScript and CSS, shipped with textual-serve) need no token: they hold no data.

Two more things keep the served app from reaching further than the user's own terminal would:

* **Nothing from the internet.** textual-serve's page loads its font from Google Fonts (telling Google
  who opens the workbench, and failing offline); ``local_page`` serves the same page with that link
  replaced by ``@font-face`` rules for the Roboto Mono files textual-serve already ships in
  ``/static/fonts``, so every URL the page uses is the server's own.
* **The app knows it is served.** Its command runs with ``LLMLEARN_SERVED=1`` (``workbench.served``),
  so it refuses to write outside the user's data folders instead of asking whoever is typing.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Middleware
from textual_serve.server import Server

from workbench.served import SERVED_ENV

TOKEN_COOKIE = "llmlearn_token"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _netloc(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return host if port in (80, 443) else f"{host}:{port}"


@dataclass(frozen=True)
class Guard:
    """Who may use the served app: the hosts it answers to, the origins its socket accepts, the token."""

    hosts: frozenset[str]  # Host header values, lower case
    origins: frozenset[str]  # scheme://netloc, lower case
    token: str

    @classmethod
    def for_server(cls, host: str, port: int, public_url: str | None = None, token: str | None = None) -> Guard:
        names: Iterable[str] = LOOPBACK if host in LOOPBACK else (host,)
        hosts = {_netloc(n, port).lower() for n in names}
        origins = {f"http://{h}" for h in hosts} | {f"https://{h}" for h in hosts}
        if public_url:
            parts = urlsplit(public_url)
            if parts.netloc:
                hosts.add(parts.netloc.lower())
                origins.add(f"{parts.scheme}://{parts.netloc}".lower())
        return cls(frozenset(hosts), frozenset(origins), token or secrets.token_urlsafe(32))

    def url(self, base: str) -> str:
        """The address to open: the served URL with the token."""
        return f"{base.rstrip('/')}/?token={self.token}"

    def _token_ok(self, request: web.Request) -> bool:
        given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    def check(self, request: web.Request) -> str | None:
        """Why ``request`` is refused, or None when it may pass."""
        host = (request.headers.get("Host") or "").lower()
        if host not in self.hosts:
            return f"unknown host {host!r}"
        if request.path.startswith("/static/"):
            return None
        origin = request.headers.get("Origin")
        is_socket = request.headers.get("Upgrade", "").lower() == "websocket"
        if is_socket and (origin or "").lower() not in self.origins:
            return f"websocket from another origin ({origin!r})"
        if origin is not None and origin.lower() not in self.origins:
            return f"request from another origin ({origin!r})"
        if not self._token_ok(request):
            return "missing or wrong token: open the URL printed by 'workbench serve'"
        return None

    def middleware(self) -> Middleware:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            reason = self.check(request)
            if reason is not None:
                return web.Response(status=403, text=f"403 forbidden: {reason}\n")
            response = await handler(request)
            if request.query.get("token") and isinstance(response, web.Response) and not response.prepared:
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict")
            return response

        return guard


PAGE = "app_index.html"  # textual-serve's page template, by the name its handler renders
_REMOTE_TAG = re.compile(r"""<link\b[^>]*\bhref=["']?(?:https?:)?//[^>]*>"""
                         r"""|<script\b[^>]*\bsrc=["']?(?:https?:)?//[^>]*>\s*</script>""", re.IGNORECASE)
_REMOTE_IMPORT = re.compile(r"""@import\s+(?:url\()?["']?(?:https?:)?//[^;]*;""", re.IGNORECASE)
_FONT_FILES = (("RobotoMono-VariableFont_wght.ttf", "normal"), ("RobotoMono-Italic-VariableFont_wght.ttf", "italic"))


def local_page(template: str) -> str:
    """textual-serve's page template without anything fetched from another host: remote stylesheets,
    scripts and ``@import`` dropped, the Roboto Mono it asked Google for declared from ``/static/fonts``."""
    faces = "\n".join(
        f'@font-face {{ font-family: "Roboto Mono"; font-style: {style}; font-weight: 100 700; '
        f'src: url("{{{{ config.static.url }}}}fonts/{name}") format("truetype"); }}'
        for name, style in _FONT_FILES)
    page = _REMOTE_IMPORT.sub("", _REMOTE_TAG.sub("", template))
    return page.replace("<head>", f"<head>\n    <style>\n{faces}\n    </style>", 1)


def served_command(command: str) -> str:
    """``command`` run with ``LLMLEARN_SERVED=1`` (textual-serve runs it with the shell; Windows' shell
    has no ``VAR=value cmd``, and there the web driver textual-serve selects marks the app as served)."""
    return command if os.name == "nt" else f"{SERVED_ENV}=1 {command}"


def guarded_server(command: str, host: str, port: int, title: str, public_url: str | None,
                   guard: Guard) -> Server:
    """A textual-serve ``Server`` whose every request passes ``guard`` first, whose page fetches
    nothing from other hosts, and whose app processes know they are served."""

    class GuardedServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard.middleware())
            shipped = (self.templates_path / PAGE).read_text(encoding="utf-8")
            aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({PAGE: local_page(shipped)}))
            return app

        async def on_startup(self, app: web.Application) -> None:
            await super().on_startup(app)
            self.console.print(f"Open {guard.url(self.public_url)}  (the token is required; keep it private)")

    return GuardedServer(served_command(command), host=host, port=port, title=title, public_url=public_url)
