"""The server's event loop: uvloop, accepting every connection that is waiting at each turn of the loop.

libuv, under uvloop, accepts one connection per turn of the loop (since libuv 1.45, "don't accept() connections
in a loop"), and a turn of a busy server runs every request that is ready: with fifty connections open, some
25 ms of work. Fifty learners connecting at once to a busy server therefore waited fifty turns, up to a second,
for their first answer, while the connections already open were served again and again. Measured with wrk on
one worker: a fresh run of 50 connections against a server still busy with the previous run answered its last
new connection after 0.96 s (p99 of the run 300–500 ms), against 40 ms for connections already open; the
stdlib loop, which accepts up to the backlog at each turn, had no such tail.

``AcceptingLoop`` keeps uvloop's transports and speed and does the accepting itself, as the stdlib loop does:
it watches each listening socket with ``add_reader`` and, when one is readable, accepts up to ``backlog``
connections, handing each to uvloop with ``connect_accepted_socket``. That is for a server of one worker, which
binds its own host and port (``tutor serve``'s default). A socket shared by several workers, TLS and other
options go to uvloop unchanged (see ``AcceptingLoop.create_server`` for why a shared socket does).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop

log = logging.getLogger(__name__)

# Out of file descriptors or memory: accepting again at once would spin, so the server stops accepting for a
# while (what the stdlib loop does), and the connections wait in the kernel's backlog meanwhile.
RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_RETRY_DELAY_S = 1.0


class AcceptingServer(asyncio.AbstractServer):
    """Listening sockets watched by the loop; ``close()`` stops accepting (the connections open are left alone)."""

    def __init__(
        self, loop: AcceptingLoop, sockets: list[socket.socket], protocol_factory: Callable[[], Any], backlog: int
    ) -> None:
        self._loop = loop
        self._sockets = sockets
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._serving = False
        self._closed = asyncio.Event()
        self._connecting: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._serving:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._watch(sock)

    async def serve_forever(self) -> None:
        """Accept connections until the server is closed (or this is cancelled, which closes it)."""
        await self.start_serving()
        try:
            await self._closed.wait()
        finally:
            self.close()

    def close(self) -> None:
        self._serving = False
        self._closed.set()
        for sock in self._sockets:
            if sock.fileno() != -1:
                self._loop.remove_reader(sock.fileno())
                sock.close()

    async def wait_closed(self) -> None:
        """Nothing to wait for: the server holds no connection (uvicorn closes its own)."""

    def _watch(self, sock: socket.socket) -> None:
        if self._serving and sock.fileno() != -1:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(self._backlog):
            try:
                conn, _address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # every waiting connection is taken
            except ConnectionAbortedError:
                continue  # that client gave up before it was accepted
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRORS:
                    raise
                log.error("cannot accept connections (%s): trying again in %s s", exc, ACCEPT_RETRY_DELAY_S)
                self._loop.remove_reader(sock.fileno())
                self._loop.call_later(ACCEPT_RETRY_DELAY_S, self._watch, sock)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._hand_over(conn))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _hand_over(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, conn)
        except OSError:
            conn.close()  # the client went away before its transport was made: nothing to serve


class AcceptingLoop(uvloop.Loop):
    """uvloop, with the servers of ``create_server`` accepting every waiting connection at each turn."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], Any],
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        **options: Any,
    ) -> asyncio.AbstractServer:
        if sock is not None or ssl is not None or options:
            # A socket given is shared: uvicorn hands the one it bound to each of several workers. The kernel wakes
            # every worker for a new connection, and the first awake would take a whole burst and keep it (with
            # two workers, one served most connections and submissions' p95 went from 0.25 s to 1.3 s); taking
            # one a turn, as libuv does, spreads them. TLS and other options are for uvloop alone too.
            if sock is not None:
                return await super().create_server(protocol_factory, sock=sock, backlog=backlog, ssl=ssl, **options)
            return await super().create_server(protocol_factory, host, port or 0, backlog=backlog, ssl=ssl, **options)
        sockets = await self._bind(host, port)
        server = AcceptingServer(self, sockets, protocol_factory, backlog)
        await server.start_serving()
        return server

    async def _bind(self, host: str | None, port: int | None) -> list[socket.socket]:
        """A socket bound to each address the host resolves to, as the stdlib loop binds them."""
        infos = await self.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        sockets: list[socket.socket] = []
        try:
            for family, kind, proto, _name, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # "::" and "0.0.0.0" each get a socket of their own
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind(address)
                except OSError as exc:
                    raise OSError(
                        exc.errno, f"error while attempting to bind on address {address!r}: {exc.strerror}"
                    ) from None
                sock.setblocking(False)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        return sockets


def new_event_loop() -> AcceptingLoop:
    """The loop factory that ``tutor serve`` gives uvicorn (``loop="app.event_loop:new_event_loop"``)."""
    return AcceptingLoop()
