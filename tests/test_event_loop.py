"""The server's event loop: uvloop, accepting every waiting connection at each turn (app.event_loop)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

import pytest
import uvloop
from event_loops import run_in_own_loop

from app import event_loop
from app.event_loop import AcceptingLoop, AcceptingServer, new_event_loop

T = TypeVar("T")


class Recorder(asyncio.Protocol):
    """Notes each connection made and answers every chunk it receives with the same bytes, upper-cased."""

    made: ClassVar[list[Any]] = []  # uvloop's transports

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        Recorder.made.append(transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())


@pytest.fixture(autouse=True)
def no_connections_yet() -> None:
    Recorder.made = []


async def close(server: asyncio.AbstractServer, *clients: asyncio.StreamWriter | socket.socket) -> None:
    """The server, the clients and the server's ends of their connections closed, and a turn for them to go."""
    server.close()
    for client in clients:
        client.close()
    for transport in Recorder.made:
        transport.close()
    await asyncio.sleep(0)


def on_accepting_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return run_in_own_loop(main, loop_factory=new_event_loop)


async def turns(count: int) -> list[int]:
    """The number of connections made after each of ``count`` turns of the loop."""
    made = []
    for _ in range(count):
        await asyncio.sleep(0)
        made.append(len(Recorder.made))
    return made


async def connections_made_turn_by_turn() -> list[int]:
    Recorder.made = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Recorder, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # The kernel completes each handshake into the listening socket's backlog: twenty clients wait to be accepted.
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    made = await turns(6)
    await close(server, *clients)
    return made


def test_every_waiting_connection_is_accepted_at_once_where_uvloop_takes_one_a_turn() -> None:
    # uvloop's own servers (libuv) accept one connection per turn: under load a turn serves every ready request,
    # which is why the server has a loop of its own. Should this line fail, uvloop has changed its ways.
    uvloop_made = run_in_own_loop(connections_made_turn_by_turn, loop_factory=uvloop.new_event_loop)
    assert uvloop_made == [0, 1, 2, 3, 4, 5]

    made = on_accepting_loop(connections_made_turn_by_turn)
    assert made[-1] == 20
    assert made.index(20) <= 2  # the turn that accepts them all, then one for the transports and protocols


def test_a_connection_is_served_by_uvloop_with_nagle_off() -> None:
    async def main() -> tuple[bytes, int, bool]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Recorder, "127.0.0.1", 0)
        assert isinstance(server, AcceptingServer) and server.is_serving() and server.get_loop() is loop
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(b"kl divergence")
        answer = await reader.readexactly(13)
        (transport,) = Recorder.made
        nodelay = transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        await close(server, writer)
        return answer, nodelay, type(transport).__module__ == "uvloop.loop"

    assert on_accepting_loop(main) == (b"KL DIVERGENCE", 1, True)


def test_after_close_no_connection_is_accepted_and_those_open_go_on() -> None:
    async def main() -> bytes:
        server = await asyncio.get_running_loop().create_server(Recorder, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"before")
        await reader.readexactly(6)
        server.close()
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(*address)
        writer.write(b"after")
        answer = await reader.readexactly(5)
        await close(server, writer)
        return answer

    assert on_accepting_loop(main) == b"AFTER"


def test_an_address_in_use_is_named_and_nothing_is_left_open() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]

    async def main() -> None:
        await asyncio.get_running_loop().create_server(Recorder, "127.0.0.1", port)

    with taken, pytest.raises(OSError, match=rf"error while attempting to bind on address \('127.0.0.1', {port}\)"):
        on_accepting_loop(main)


class OutOfDescriptors(socket.socket):
    """A listening socket whose first accept fails as a process out of file descriptors does."""

    accepts = 0

    def accept(self) -> tuple[socket.socket, Any]:
        OutOfDescriptors.accepts += 1
        if OutOfDescriptors.accepts == 1:
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_out_of_file_descriptors_it_pauses_accepting_then_takes_the_waiting_connection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(event_loop, "ACCEPT_RETRY_DELAY_S", 0.2)
    OutOfDescriptors.accepts = 0
    sock = OutOfDescriptors()
    sock.bind(("127.0.0.1", 0))

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, AcceptingLoop)
        server = AcceptingServer(loop, [sock], Recorder, backlog=16)
        await server.start_serving()
        client = socket.create_connection(sock.getsockname())
        await asyncio.sleep(0.1)
        during_pause = (OutOfDescriptors.accepts, len(Recorder.made))  # not retried in a spin meanwhile
        await asyncio.sleep(0.3)
        made = len(Recorder.made)
        await close(server, client)
        return (*during_pause, made)

    assert on_accepting_loop(main) == (1, 0, 1)
    assert "cannot accept connections ([Errno 24] Too many open files): trying again in 0.2 s" in caplog.text


def shared_socket() -> dict[str, Any]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # as uvicorn binds the one socket that several workers share
    return {"sock": sock}


@pytest.mark.parametrize(
    "where",
    [shared_socket, lambda: {"host": "127.0.0.1", "port": 0, "reuse_port": True}],
    ids=["a socket shared by workers", "options of its own"],
)
def test_a_shared_socket_or_a_server_with_options_is_uvloops_own(where: Callable[[], dict[str, Any]]) -> None:
    # Several workers woken for each new connection: the first awake would take a whole burst and keep it.
    async def main() -> tuple[bool, bytes]:
        server = await asyncio.get_running_loop().create_server(Recorder, **where())
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(b"beta")
        answer = await reader.readexactly(4)
        await close(server, writer)
        return isinstance(server, AcceptingServer), answer

    assert on_accepting_loop(main) == (False, b"BETA")


def test_serve_forever_accepts_until_the_server_is_closed() -> None:
    async def main() -> bytes:
        server = await asyncio.get_running_loop().create_server(Recorder, "127.0.0.1", 0)
        serving = asyncio.create_task(server.serve_forever())
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(b"gamma")
        answer = await reader.readexactly(5)
        await close(server, writer)
        await asyncio.wait_for(serving, timeout=5)
        return answer

    assert on_accepting_loop(main) == b"GAMMA"


def test_the_factory_makes_a_uvloop_loop() -> None:
    loop = new_event_loop()
    try:
        assert isinstance(loop, AcceptingLoop) and isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
