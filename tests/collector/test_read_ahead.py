"""The collector's read-ahead socket, on a real socket pair (no broker)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from collector.ingest import _readable, _ReadAhead


@pytest.fixture
def pair() -> Iterator[tuple[_ReadAhead, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        yield _ReadAhead(a), b
    finally:
        a.close()
        b.close()


def test_small_reads_are_served_from_one_chunk_in_order(
    pair: tuple[_ReadAhead, socket.socket],
) -> None:
    sock, peer = pair
    data = bytes(range(256)) * 40  # 10 KiB, under one chunk
    peer.sendall(data)
    _wait_readable(sock)
    out = bytearray()
    out += sock.recv(1)
    assert sock.pending() == len(data) - 1  # the rest is read ahead, and says so
    while len(out) < len(data):
        out += sock.recv(7)
    assert bytes(out) == data
    assert sock.pending() == 0
    with pytest.raises(BlockingIOError):  # empty: paho's "try again later"
        sock.recv(1)


def test_a_read_larger_than_the_chunk_and_reads_across_chunks(
    pair: tuple[_ReadAhead, socket.socket],
) -> None:
    sock, peer = pair
    data = bytes(i % 251 for i in range(300_000))
    sender = threading.Thread(target=peer.sendall, args=(data,))
    sender.start()
    out = bytearray()
    while len(out) < len(data):
        _wait_readable(sock)
        try:
            out += sock.recv(200_000 if not out else 3)
        except BlockingIOError:
            continue
    sender.join(5)
    assert bytes(out) == data


def test_end_of_stream_is_an_empty_read(pair: tuple[_ReadAhead, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(b"ab")
    peer.close()
    _wait_readable(sock)
    assert sock.recv(1) == b"a"
    assert sock.recv(5) == b"b"
    assert sock.recv(1) == b""  # paho reads this as the connection lost


def test_everything_else_goes_to_the_socket(pair: tuple[_ReadAhead, socket.socket]) -> None:
    sock, peer = pair
    assert sock.fileno() == sock._sock.fileno()
    assert sock.send(b"hi") == 2
    assert peer.recv(2) == b"hi"


def _wait_readable(sock: _ReadAhead) -> None:
    assert _readable(sock, 5.0), "nothing arrived in 5 s"
