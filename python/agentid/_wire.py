# SPDX-License-Identifier: MIT
"""The wire: NUL-framed JSON over a Unix stream socket (docs/protocol.md,
"Framing"), with deadlines on every step."""
from __future__ import annotations

import array
import json
import os
import socket
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _protocol
from .errors import (ConnectionFailed, ConnectionLost, MessageTooLarge, ProtocolViolation, Timeout,
                     from_reply)


def socket_path(explicit: Optional[str] = None) -> str:
    """The broker's socket: explicit, else $AGENTID_SOCKET, else the default
    (the same order as agentctl)."""
    if explicit:
        return os.fspath(explicit)
    return os.environ.get(_protocol.SOCKET_ENV) or _protocol.SOCKET_PATH_DEFAULT


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    # The broker refuses duplicate keys so that two readers of one message
    # never disagree; hold its replies to the same rule.
    out: Dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ProtocolViolation(f"reply has a duplicate key {k!r}")
        out[k] = v
    return out


def encode_request(method: str, parameters: Optional[Dict[str, Any]], check_size: bool = True) -> bytes:
    """One request frame (JSON text and its NUL). Text that is not valid
    UTF-8 (lone surrogates) is a ValueError; a request larger than the
    broker accepts is MessageTooLarge, raised here rather than sent."""
    try:
        text = json.dumps({"method": method, "parameters": parameters or {}}, ensure_ascii=False,
                          separators=(",", ":"), allow_nan=False)
        data = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{method}: a parameter is not valid UTF-8 text ({e.reason})") from None
    if check_size and len(data) > _protocol.REQUEST_MAX:
        raise MessageTooLarge(f"request is {len(data)} bytes, the broker accepts at most {_protocol.REQUEST_MAX}",
                              _protocol.ERROR_MESSAGE_TOO_LARGE)
    return data + b"\0"


def decode_reply(frame: bytes) -> Tuple[Dict[str, Any], Optional[str]]:
    """(parameters, error name or None) of one reply frame (without NUL)."""
    try:
        root = json.loads(frame.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolViolation(f"reply is not JSON: {e}") from None
    if not isinstance(root, dict):
        raise ProtocolViolation("reply is not a JSON object")
    params = root.get("parameters", {})
    error = root.get("error")
    if not isinstance(params, dict) or (error is not None and not isinstance(error, str)):
        raise ProtocolViolation("reply has the wrong shape")
    return params, error


def result_of(frame: bytes) -> Dict[str, Any]:
    """The parameters of a successful reply; a broker error is raised."""
    params, error = decode_reply(frame)
    if error is not None:
        raise from_reply(error, params)
    return params


class FrameReader:
    """Splits the byte stream into frames. Every complete frame already
    received is returned before the socket is read again: two replies that
    arrive in one read (Run's start and end) are both seen."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> Optional[bytes]:
        nul = self._buf.find(b"\0")
        if nul < 0:
            if len(self._buf) > _protocol.MESSAGE_MAX:
                raise ProtocolViolation(f"reply larger than {_protocol.MESSAGE_MAX} bytes")
            return None
        frame = bytes(self._buf[:nul])
        del self._buf[:nul + 1]
        if len(frame) > _protocol.MESSAGE_MAX:
            raise ProtocolViolation(f"reply larger than {_protocol.MESSAGE_MAX} bytes")
        return frame


class Deadline:
    def __init__(self, timeout: Optional[float]) -> None:
        self.at = None if timeout is None else time.monotonic() + timeout

    def left(self) -> Optional[float]:
        """Seconds left (None: no deadline); Timeout once it has passed."""
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise Timeout("the broker did not answer in time")
        return left


def start_connect(path: str) -> socket.socket:
    """A non-blocking socket (close-on-exec) for path, not yet connected."""
    if len(os.fsencode(path)) >= 108:
        raise ConnectionFailed(f"socket path too long: {path}")
    return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)


def try_connect(sock: socket.socket, path: str) -> bool:
    """One connect attempt: True when connected, False when the broker's
    backlog is full (EAGAIN: retry until the deadline, as agentctl does)."""
    try:
        sock.connect(path)
        return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError as e:
        raise ConnectionFailed(e.errno, f"cannot reach the broker at {path}: {e.strerror} "
                               "(is agentidd running?)") from None


def connect(path: str, deadline: Deadline) -> socket.socket:
    """A connected, blocking socket; retries a full backlog until the deadline."""
    sock = start_connect(path)
    try:
        pause = 0.001
        while not try_connect(sock, path):
            left = deadline.left()
            time.sleep(min(pause, left) if left is not None else pause)
            pause = min(pause * 2, 0.05)
        sock.setblocking(True)
        return sock
    except BaseException:
        sock.close()
        raise


def send_with_fds(sock: socket.socket, data: bytes, fds: Sequence[int]) -> int:
    """Send as much of data as the socket takes now, the descriptors riding
    with its first byte (SCM_RIGHTS). Returns the bytes sent."""
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
    return sock.sendmsg([data], ancillary, socket.MSG_NOSIGNAL)


def call(path: str, method: str, parameters: Optional[Dict[str, Any]], timeout: Optional[float],
         check_size: bool = True) -> Dict[str, Any]:
    """One request on a fresh connection; its reply's parameters, or the
    broker's error raised as its exception class."""
    frame = encode_request(method, parameters, check_size)
    deadline = Deadline(timeout)
    sock = connect(path, deadline)
    try:
        reader = FrameReader()
        view = memoryview(frame)
        while view:
            sock.settimeout(deadline.left())
            try:
                n = sock.send(view, socket.MSG_NOSIGNAL)
            except socket.timeout:
                raise Timeout(f"{method}: the broker did not take the request in time") from None
            except (BrokenPipeError, ConnectionResetError):
                # The broker may answer and close before reading all of it
                # (MessageTooLarge, TooManyConnections): read that answer.
                break
            view = view[n:]
        while True:
            got = reader.next_frame()
            if got is not None:
                return result_of(got)
            sock.settimeout(deadline.left())
            try:
                data = sock.recv(65536)
            except socket.timeout:
                raise Timeout(f"{method}: no reply from the broker in time") from None
            except ConnectionResetError:
                data = b""
            if not data:
                raise ConnectionLost(f"{method}: the broker closed the connection without a reply")
            reader.feed(data)
    finally:
        sock.close()
