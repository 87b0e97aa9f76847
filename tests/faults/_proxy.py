"""A small asyncio TCP proxy on loopback that can cut the network like a real partition.

``partition()`` black-holes traffic: open connections stop moving bytes (they are not reset, as
a pulled cable or a dropped route would not reset them) and new connections are accepted but
never joined to the upstream, so clients see timeouts, not refusals. ``heal()`` closes the
black-holed connections (their peers gave up on them long ago) and proxies normally again.
"""

from __future__ import annotations

import asyncio
import contextlib

from cityops_devtools.testing import free_port


class PartitionProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, port: int | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self._server: asyncio.AbstractServer | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.partitions = 0

    @property
    def partitioned(self) -> bool:
        return not self._open.is_set()

    async def start(self) -> PartitionProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._close_all()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def partition(self) -> None:
        self.partitions += 1
        self._open.clear()

    def heal(self) -> None:
        self._close_all()
        self._open.set()

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await self._open.wait()  # a connection made during a partition hangs until heal()
            if writer.is_closing():
                return
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                # During a partition the bytes already read are held, never delivered: the
                # connection is closed at heal(), so nothing stale arrives afterwards.
                await self._open.wait()
                if writer.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
