"""``COPY … TO STDOUT`` read straight from libpq into one buffer.

libpq hands a COPY out over one row at a time; psycopg's ``Copy`` iterator wraps each row in
several Python generator steps, which costs more than the server's work for a pair-year of
candles. This loop calls psycopg's public libpq wrapper (``Connection.pgconn``) directly:
one call and one buffer append per row, and a wait on the socket only when libpq's input
buffer is empty. The connection is left as psycopg expects it: idle (in its transaction).
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg import pq

_WOULD_BLOCK = 0
_DONE = -1


def copy_out(conn: psycopg.Connection[Any], query: bytes) -> bytes:
    """Run ``query`` (a ``COPY … TO STDOUT``) and return every byte it sends."""
    pg = conn.pgconn
    pg.send_query(query)
    _flush(pg)
    _expect(_next_result(pg), pq.ExecStatus.COPY_OUT, pg)
    buffer = bytearray()
    read = pg.get_copy_data
    while True:
        size, data = read(1)
        if size > 0:
            buffer += data
        elif size == _WOULD_BLOCK:
            _wait(pg)
        elif size == _DONE:
            break
        else:
            raise psycopg.OperationalError(_message(pg))
    while (result := _next_result(pg)) is not None:
        _expect(result, pq.ExecStatus.COMMAND_OK, pg)
    return bytes(buffer)


def _flush(pg: pq.abc.PGconn) -> None:
    while pg.flush() == 1:
        select.select([], [pg.socket], [])


def _wait(pg: pq.abc.PGconn) -> None:
    select.select([pg.socket], [], [])
    pg.consume_input()


def _next_result(pg: pq.abc.PGconn) -> pq.abc.PGresult | None:
    while pg.is_busy():
        _wait(pg)
    return pg.get_result()


def _expect(result: pq.abc.PGresult | None, status: pq.ExecStatus, pg: pq.abc.PGconn) -> None:
    if result is None or result.status != status:
        message = result.get_error_message() if result is not None else _message(pg)
        # Drain what is left so the connection goes back to the pool usable.
        while _next_result(pg) is not None:
            pass
        raise psycopg.DatabaseError(message.strip() or "COPY failed")


def _message(pg: pq.abc.PGconn) -> str:
    return pg.get_error_message().strip() or "connection lost during COPY"
