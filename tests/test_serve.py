"""``workbench serve`` answers only its own user: the bound host, the served origin, the launch token.

Each check runs a real aiohttp server on 127.0.0.1 with the guard in front of a page and a websocket
(the same middleware ``workbench serve`` adds to textual-serve), and a client that behaves like a
browser tab of the user — or like another site's page, or a DNS-rebinding attacker.
"""

from __future__ import annotations

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from workbench.serve import TOKEN_COOKIE, Guard


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
