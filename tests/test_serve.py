"""``workbench serve`` answers only its own user: the bound host, the served origin, the launch token.

Each check runs a real aiohttp server on 127.0.0.1 with the guard in front of a page and a websocket
(the same middleware ``workbench serve`` adds to textual-serve), and a client that behaves like a
browser tab of the user — or like another site's page, or a DNS-rebinding attacker.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from workbench.serve import TOKEN_COOKIE, Guard, guarded_server, served_command
from workbench.served import SERVED_ENV


async def _client(guard: Guard) -> TestClient:  # type: ignore[type-arg]
    async def index(request: web.Request) -> web.Response:
        return web.Response(text="the app page")

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("keystrokes accepted")
        await ws.close()
        return ws

    async def static(request: web.Request) -> web.Response:
        return web.Response(text="js")

    app = web.Application(middlewares=[guard.middleware()])
    app.add_routes([web.get("/", index), web.get("/ws", socket), web.get("/static/app.js", static)])
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return client



async def test_the_users_tab_with_the_token_gets_the_page_and_the_socket() -> None:
    guard = Guard.for_server("localhost", 8000, token="s3cret-token")
    client = await _client(guard)
    try:
        host = {"Host": "localhost:8000"}
        r = await client.get("/?token=s3cret-token", headers=host)
        assert r.status == 200 and await r.text() == "the app page"
        assert r.cookies[TOKEN_COOKIE].value == "s3cret-token"
        assert r.cookies[TOKEN_COOKIE]["samesite"] == "Strict" and r.cookies[TOKEN_COOKIE]["httponly"]
        # the page's own socket: same origin, the cookie set above
        ws = await client.ws_connect("/ws", headers={**host, "Origin": "http://localhost:8000"})
        msg = await ws.receive()
        assert msg.type == WSMsgType.TEXT and msg.data == "keystrokes accepted"
        await ws.close()
        assert (await client.get("/static/app.js", headers=host)).status == 200  # assets need no token
    finally:
        await client.close()


async def test_another_sites_page_cannot_open_the_socket() -> None:
    client = await _client(Guard.for_server("localhost", 8000, token="s3cret-token"))
    try:
        r = await client.get("/ws", headers={"Host": "localhost:8000", "Origin": "http://evil.example",
                                             "Upgrade": "websocket", "Connection": "Upgrade",
                                             "Sec-WebSocket-Version": "13",
                                             "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw==",
                                             "Cookie": f"{TOKEN_COOKIE}=s3cret-token"})
        assert r.status == 403 and "another origin" in await r.text()
    finally:
        await client.close()


async def test_a_rebound_host_name_is_refused_even_with_the_token() -> None:
    client = await _client(Guard.for_server("localhost", 8000, token="s3cret-token"))
    try:
        r = await client.get("/?token=s3cret-token", headers={"Host": "evil.example"})
        assert r.status == 403 and "unknown host" in await r.text()
        r = await client.get("/static/app.js", headers={"Host": "evil.example:8000"})
        assert r.status == 403
    finally:
        await client.close()


async def test_without_the_token_nothing_but_assets_is_served() -> None:
    client = await _client(Guard.for_server("localhost", 8000, token="s3cret-token"))
    try:
        for url in ("/", "/?token=wrong", "/ws"):
            r = await client.get(url, headers={"Host": "127.0.0.1:8000"})
            assert r.status == 403 and "token" in await r.text(), url
    finally:
        await client.close()


def test_the_guard_knows_the_served_hosts_and_origins() -> None:
    g = Guard.for_server("localhost", 8000, public_url="https://lab.example.org")
    assert {"localhost:8000", "127.0.0.1:8000", "[::1]:8000", "lab.example.org"} <= g.hosts
    assert "https://lab.example.org" in g.origins and "http://localhost:8000" in g.origins
    assert len(g.token) >= 32 and g.token != Guard.for_server("localhost", 8000).token  # new per launch
    assert g.url("http://localhost:8000") == f"http://localhost:8000/?token={g.token}"
    lan = Guard.for_server("192.168.1.5", 8080)
    assert lan.hosts == frozenset({"192.168.1.5:8080"})


# -- the real textual-serve page, as ``workbench serve`` serves it --------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_HOST_URL = re.compile(r"""(?:https?:)?//([A-Za-z0-9.\[\]:-]+)""")
_XMLNS = re.compile(r"""xmlns(?::\w+)?=["'][^"']*["']""")  # a namespace name, never fetched
_LOCAL_REF = re.compile(r"""(?:href|src)=["']([^"']+)["']|url\(["']?([^"')]+)["']?\)""")


def _hosts(text: str) -> set[str]:
    text = re.sub(r"/\*.*?\*/", "", _XMLNS.sub("", text), flags=re.DOTALL)  # CSS comments are not fetched
    return {m.group(1).lower() for m in _HOST_URL.finditer(text)}


async def test_the_served_page_fetches_nothing_from_other_hosts() -> None:
    port = _free_port()
    guard = Guard.for_server("127.0.0.1", port, token="s3cret-token")
    server = guarded_server("true", "127.0.0.1", port, "llmlearn workbench", None, guard)
    client = TestClient(TestServer(await server._make_app(), host="127.0.0.1", port=port))
    await client.start_server()
    try:
        me = f"127.0.0.1:{port}"
        r = await client.get("/?token=s3cret-token", headers={"Host": me})
        page = await r.text()
        assert r.status == 200 and "textual-terminal" in page  # textual-serve's own page, rendered
        assert "fonts.googleapis.com" not in page and "Roboto Mono" in page
        assert _hosts(page) == {me}, _hosts(page)
        refs = {a or b for a, b in _LOCAL_REF.findall(_XMLNS.sub("", page))} - {""}
        assert any(ref.endswith(".ttf") for ref in refs) and any(ref.endswith(".js") for ref in refs)
        for ref in sorted(refs):  # every file the page names is served here, and names no other host itself
            r = await client.get(urlsplit(ref).path, headers={"Host": me})
            assert r.status == 200, ref
            if ref.endswith((".css", ".js")):
                assert _hosts(await r.text()) <= {me}, ref
    finally:
        await client.close()


def test_the_served_app_knows_it_is_served() -> None:
    if os.name == "nt":
        assert served_command("python -m workbench app") == "python -m workbench app"
        return
    command = served_command("/usr/bin/python3 -m workbench app")
    assert command.startswith(f"{SERVED_ENV}=1 ")
    out = subprocess.run(served_command(f"{shlex.quote(sys.executable)} -c "
                                        "'from workbench.served import is_served; print(is_served())'"),
                         shell=True, capture_output=True, text=True, check=True, env={**os.environ, SERVED_ENV: ""})
    assert out.stdout.strip() == "True"
