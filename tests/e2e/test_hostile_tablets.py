"""What a hostile (or broken) tablet sends, against real server processes (issue 16).

Nothing a tablet sends may lose a drawing, end a child's game, or kill a connection: each test
here sends one thing that once did, and checks the connection, the game and the results.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import websockets

from bench.tablet import Tablet
from tests.e2e.conftest import CANVAS, categories, mariadb_rows, server_env
from tests.utils.server_process import ServerProcess
from tests.utils.throwaway_redis import ThrowawayRedis

pytestmark = pytest.mark.slow

BAD_TIME_STROKE = {"type": "stroke", "stage": 0, "stroke": 0, "start": 0,
                   "points": [[100, 100, 10], [120, 110, 3_000_000_000]], "end": True}


def category_code() -> str:
    return categories()[0]["code"]


async def skip_to_the_end(tablet: Tablet, message: dict) -> dict:
    """Skip every stage from `message` (a `stage_start`) on; returns `game_over`."""
    while message["type"] == "stage_start":
        await tablet.send({"type": "skip", "stage": message["stage"]})
        message = await tablet.recv_until("stage_start", "game_over")
    return message


async def answered(tablet: Tablet, marker: int | str) -> list[dict]:
    """Ping, and return everything received until its pong (the server answers in order)."""
    await tablet.send({"type": "ping", "id": marker})
    seen: list[dict] = []
    while True:
        message = await tablet.recv()
        if message == {"type": "pong", "id": marker}:
            return seen
        seen.append(message)


def test_a_point_time_the_database_cannot_hold_is_refused_and_the_game_is_recorded(
        tmp_path, servers, mariadb_url):
    server = ServerProcess(env=server_env(tmp_path, DATABASE_URL=mariadb_url),
                           log_path=tmp_path / "server.log").start()
    servers.append(server)

    async def play() -> tuple[str, dict]:
        async with Tablet(server.ws_url, player_id="child-0160", category=category_code(),
                          canvas=CANVAS) as tablet:
            await tablet.hello()
            start = await tablet.recv_until("stage_start")
            await tablet.send({**BAD_TIME_STROKE, "stage": start["stage"]})
            refused = await tablet.recv_until("ack", "error")
            assert refused["type"] == "error" and refused["code"] == "out_of_range", refused
            await tablet.draw_stroke(start["stage"], 0, [(100, 100, 10), (120, 110, 30)])
            ack = await tablet.recv_until("ack")
            assert (ack["stroke"], ack["points"]) == (0, 2)
            return tablet.welcome["game_id"], await skip_to_the_end(tablet, start)

    game_id, over = asyncio.run(play())
    assert over["type"] == "game_over"
    rows = mariadb_rows(
        mariadb_url,
        "select s.stage_index, d.point_count from games g join stages s on s.game_id = g.game_id"
        f" join drawings d on d.stage_id = s.id where g.game_id = '{game_id}' order by 1",
        until=bool)
    assert rows and rows[0] == (0, 2), (rows, server.log_tail())
    results = httpx.get(f"{server.http_url}/healthz", timeout=10).json()["results"]
    assert results["dead_letters"] == 0, results


# --- presence: only the live socket of the game's own player holds it

PRESENCE_ENV = {"RESUME_GRACE_S": "0.5", "DEFAULT_TIME_LIMIT_S": "8", "DEFAULT_STAGE_COUNT": "2"}


def test_a_stranger_holding_the_resume_token_cannot_end_a_playing_childs_game(tmp_path, servers):
    redis_server = ThrowawayRedis(tmp_path).start()
    env = server_env(tmp_path, REDIS_URL=redis_server.url, **PRESENCE_ENV)
    server = ServerProcess(env=env, log_path=tmp_path / "server.log").start()
    servers.append(server)

    async def play() -> dict:
        async with Tablet(server.ws_url, player_id="child-victim", category=category_code(),
                          canvas=CANVAS) as victim:
            await victim.hello()
            start = await victim.recv_until("stage_start")
            async with Tablet(server.ws_url, player_id="child-stranger", category=category_code(),
                              resume_token=victim.resume_token) as stranger:
                await stranger.send({"type": "hello", "v": 1, "player_id": "child-stranger",
                                     "category": category_code(),
                                     "resume_token": victim.resume_token,
                                     "canvas": {"width": 800, "height": 600}})
                refused = await stranger.recv()
                assert refused["type"] == "error" and refused["code"] == "resume_failed"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await stranger.recv()
                assert closed.value.rcvd.code == 1008
            # The stranger's socket has closed; the victim draws on.
            await victim.draw_stroke(start["stage"], 0, [(100, 100, 10), (120, 110, 30)])
            await victim.recv_until("ack")
            # The resume grace (0.5 s) is long past when the stage's own deadline (8 s) comes.
            return await victim.recv_until("stage_result", "game_over")

    try:
        ended = asyncio.run(play())
    finally:
        redis_server.kill()
    assert ended["type"] == "stage_result" and ended["outcome"] == "timeout", ended


def test_an_old_half_open_socket_closing_late_does_not_end_the_resumed_game(tmp_path, servers):
    # School Wi-Fi: the tablet's first socket goes silent, the tablet resumes on a new one (here
    # on the other server process) and draws on; the server's keepalive closes the old socket
    # much later. That close is not the child leaving.
    redis_server = ThrowawayRedis(tmp_path).start()
    env = server_env(tmp_path, REDIS_URL=redis_server.url, **PRESENCE_ENV)
    a = ServerProcess(env=env, log_path=tmp_path / "a.log").start()
    b = ServerProcess(env=env, log_path=tmp_path / "b.log").start()
    servers.extend([a, b])

    async def play() -> dict:
        old = Tablet(a.ws_url, player_id="child-wifi01", category=category_code(), canvas=CANVAS)
        await old.__aenter__()
        await old.hello()
        await old.recv_until("stage_start")
        async with Tablet(b.ws_url, player_id="child-wifi01", category=category_code(),
                          canvas=CANVAS, resume_token=old.resume_token) as new:
            assert (await new.hello())["resumed"]
            start = await new.recv_until("stage_start")
            await new.draw_stroke(start["stage"], 0, [(100, 100, 10), (120, 110, 30)])
            await new.recv_until("ack")
            await old.ws.close()  # the keepalive gives up on the old socket at last
            await new.draw_stroke(start["stage"], 1, [(200, 100, 40), (220, 110, 60)])
            await new.recv_until("ack")
            return await new.recv_until("stage_result", "game_over")

    try:
        ended = asyncio.run(play())
    finally:
        redis_server.kill()
    assert ended["type"] == "stage_result" and ended["outcome"] == "timeout", ended


# --- frames that once crashed or silenced a connection, and types that were let through


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server on embedded defaults for the tests that only talk to it."""
    base = tmp_path_factory.mktemp("plain")
    server = ServerProcess(env=server_env(base), log_path=base / "server.log").start()
    yield server
    server.kill()


DEEP = "[" * 1100 + "]" * 1100
LONE_SURROGATE_PING = '{"type":"ping","id":"\\ud800"}'


@pytest.mark.parametrize("after_hello", [False, True])
def test_deep_nesting_is_bad_json_not_a_crash(plain_server, after_hello):
    async def talk() -> list[dict]:
        async with Tablet(plain_server.ws_url, player_id="child-deep01", category=category_code()
                          ) as tablet:
            if after_hello:
                await tablet.hello()
            await tablet.send(DEEP)
            return await answered(tablet, "after-deep")

    replies = asyncio.run(talk())
    errors = [m for m in replies if m["type"] == "error"]
    assert [e["code"] for e in errors] == ["bad_json"], replies


@pytest.mark.parametrize("after_hello", [False, True])
def test_a_ping_that_cannot_be_answered_gets_invalid_message_and_the_socket_lives(
        plain_server, after_hello):
    async def talk() -> tuple[list[dict], list[dict]]:
        async with Tablet(plain_server.ws_url, player_id="child-surr01", category=category_code()
                          ) as tablet:
            if after_hello:
                await tablet.hello()
                start = await tablet.recv_until("stage_start")
            await tablet.send(LONE_SURROGATE_PING)
            reply = await tablet.recv(timeout_s=30)
            later = await answered(tablet, "after-surrogate")
            if after_hello:  # and the game goes on
                await tablet.draw_stroke(start["stage"], 0, [(100, 100, 10), (120, 110, 30)])
                later.append(await tablet.recv_until("ack"))
            return [reply], later

    [reply], later = asyncio.run(talk())
    assert reply["type"] == "error" and reply["code"] == "invalid_message", reply
    assert not [m for m in later if m["type"] == "error"]


@pytest.mark.parametrize("field,value", [("stage", "0"), ("end", "yes"), ("stroke", 0.0),
                                         ("end", 1), ("points", [[100, "100", 10]])])
def test_wrong_types_are_refused_as_the_protocol_documents(plain_server, field, value):
    async def talk() -> list[dict]:
        async with Tablet(plain_server.ws_url, player_id="child-type01", category=category_code()
                          ) as tablet:
            await tablet.hello()
            start = await tablet.recv_until("stage_start")
            chunk = {"type": "stroke", "stage": start["stage"], "stroke": 0, "start": 0,
                     "points": [[100, 100, 10], [120, 110, 30]], "end": True}
            await tablet.send({**chunk, field: value})
            return await answered(tablet, "after-type")

    replies = asyncio.run(talk())
    assert [m["type"] for m in replies] == ["error"], replies
    assert replies[0]["code"] == "invalid_message"


def test_a_tablet_that_does_not_read_is_cut_off_by_queued_bytes_not_only_messages(
        tmp_path, servers):
    # 60 KB pongs: far fewer messages than OUTBOUND_QUEUE_MAX (set high here), yet megabytes a
    # socket. Bounded by bytes, the server closes the reader that does not read (1013) instead
    # of holding its answers (8 such sockets once took a process from 118 to 238 MiB).
    env = server_env(tmp_path, OUTBOUND_QUEUE_MAX="100000", MAX_MESSAGES_PER_S="100000",
                     OUTBOUND_QUEUE_MAX_BYTES="524288")
    server = ServerProcess(env=env, log_path=tmp_path / "server.log").start()
    servers.append(server)
    big_id = "x" * 60_000
    pings = 400  # 24 MB of answers: more than the kernel's socket buffers hold

    async def slow_reader(n: int) -> int | None:
        async with Tablet(server.ws_url, player_id=f"child-slow{n:02d}",
                          category=category_code()) as tablet:
            try:
                for i in range(pings):
                    await tablet.send({"type": "ping", "id": f"{i}:{big_id}"})
                await tablet.send({"type": "ping", "id": "last"})
                while (await tablet.recv(timeout_s=60)).get("id") != "last":
                    pass  # the tablet reads at last: every answer arrived
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
            return None

    async def both() -> list[int | None]:
        return list(await asyncio.gather(slow_reader(0), slow_reader(1)))

    assert asyncio.run(both()) == [1013, 1013], server.log_tail()


# --- limits without gaps


def rss_mib(server: ServerProcess) -> float:
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("after_hello", [False, True])
def test_a_flood_of_invalid_frames_is_rate_limited_and_cut_off(plain_server, after_hello):
    async def flood() -> tuple[list[str], int | None]:
        async with Tablet(plain_server.ws_url, player_id="child-flood1", category=category_code()
                          ) as tablet:
            if after_hello:
                await tablet.hello()
            try:
                for _ in range(3000):
                    await tablet.send("this is not json")
                while True:
                    await tablet.recv(timeout_s=60)
            except websockets.ConnectionClosed as closed:
                return [e["code"] for e in tablet.errors], closed.rcvd.code if closed.rcvd else None

    codes, close_code = asyncio.run(flood())
    assert close_code == 1008
    assert "rate_limited" in codes and codes.count("bad_json") < 1000, codes[-5:]


def test_pings_do_not_keep_a_socket_open_without_a_hello(tmp_path, servers):
    server = ServerProcess(env=server_env(tmp_path, HELLO_TIMEOUT_S="1"),
                           log_path=tmp_path / "server.log").start()
    servers.append(server)

    async def keep_pinging() -> int | None:
        async with Tablet(server.ws_url, player_id="child-ping01", category=category_code()
                          ) as tablet:
            try:
                for n in range(100):  # a ping every 0.3 s, for up to 30 s
                    await tablet.send({"type": "ping", "id": n})
                    assert (await tablet.recv(timeout_s=30))["type"] == "pong"
                    await asyncio.sleep(0.3)  # the pace of the pinging tablet, not a wait
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
            return None

    assert asyncio.run(keep_pinging()) == 1008


def test_a_huge_request_body_is_refused_before_it_is_read(plain_server):
    before = rss_mib(plain_server)
    declared = httpx.post(f"{plain_server.http_url}/api/v1/join", content=b"x" * (200 * 2**20),
                          headers={"content-type": "application/json"}, timeout=120)
    assert declared.status_code == 413 and declared.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(200):
            yield b"x" * 2**20

    try:
        streamed = httpx.post(f"{plain_server.http_url}/api/v1/join", content=chunks(),
                              headers={"content-type": "application/json"}, timeout=120)
        assert streamed.status_code == 413
    except httpx.HTTPError:
        pass  # the server answered and closed while the client was still sending: refused too
    assert rss_mib(plain_server) - before < 50, "the body was not held in memory"
