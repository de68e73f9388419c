# SPDX-License-Identifier: MIT
"""Run (docs/protocol.md, io.agentid.Run): one task on one connection.

The request carries the task's stdin, stdout and stderr as SCM_RIGHTS with
its first byte. Two replies follow: the start ({"agent", "pid"}) and the end
({"ended", "exit_status", "signal", ...}). While the task runs the connection
is its control channel: it accepts only io.agentid.Signal (no reply), and
closing it (this process exiting, crashing, or giving up) makes the broker
end the task and revoke the identity.

_RunSession is the state machine, driven by non-blocking events; the sync
and asyncio drivers below only wait for those events.
"""
from __future__ import annotations

import asyncio
import os
import select
import signal as _signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _protocol, _wire
from .errors import ConnectionLost, Timeout, from_reply
from .results import Identity, RunResult, _RunEnded, _RunStarted, from_json

#: Give the task a pipe (stdin: fed from ``input``; stdout/stderr: captured
#: into RunResult.stdout/.stderr).
PIPE = -1
#: Connect the stream to /dev/null.
DEVNULL = -3

#: The signals run() forwards to the task, as agentctl run does (a shell's
#: child would get them). The broker accepts these and SIGCONT.
FORWARDED_SIGNALS = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1,
                     _signal.SIGUSR2, _signal.SIGWINCH)

# After the task's end, how long to keep reading captured pipes that some
# process outside the task still holds open.
_DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class RunningTask:
    """What on_start receives once the task runs: its identity and pid, and
    ``send_signal`` to signal its process group (any thread may call it)."""
    identity: Identity
    pid: int
    _session: Any = field(repr=False, compare=False)

    @property
    def agent(self) -> str:
        return self.identity.name

    def send_signal(self, signum: int) -> None:
        self._session.send_signal(int(signum))


def _fd_of(spec: Any, name: str) -> int:
    if isinstance(spec, bool):
        raise TypeError(f"{name}: expected a file descriptor, file object, PIPE or DEVNULL")
    if isinstance(spec, int):
        return spec
    fileno = getattr(spec, "fileno", None)
    if fileno is None:
        raise TypeError(f"{name}: expected a file descriptor, file object, PIPE or DEVNULL")
    return fileno()


class _RunSession:
    def __init__(self, path: str, params: Dict[str, Any], stdin: Any, stdout: Any, stderr: Any,
                 input: Optional[bytes], on_start: Optional[Callable[[RunningTask], Any]],
                 start_timeout: Optional[float], timeout: Optional[float]) -> None:
        self.path = path
        self.on_start = on_start
        self.start_deadline = _wire.Deadline(start_timeout)
        self.deadline = _wire.Deadline(timeout)
        self.reader = _wire.FrameReader()
        self.out = bytearray(_wire.encode_request(_protocol.METHOD_RUN, params))
        self.sock: Optional[socket.socket] = None
        self.started: Optional[RunningTask] = None
        self.ended: Optional[_RunEnded] = None
        self.ended_at = 0.0
        self.pending_signals: List[int] = []
        self.lock = threading.Lock()
        self.wake: Optional[Callable[[], None]] = None
        self.pass_fds: List[int] = []      # the task's stdin, stdout, stderr
        self.owned: List[int] = []         # of those, descriptors we opened (closed once sent)
        self.captured: Dict[int, bytearray] = {}   # our read ends of PIPE stdout/stderr
        self.capture_of: Dict[str, int] = {}
        self.input_fd: Optional[int] = None        # our write end of a PIPE stdin
        self.input = memoryview(input or b"")
        self._eof: set = set()                     # captured pipes at EOF
        try:
            self._stdio(stdin, stdout, stderr, input is not None)
        except BaseException:
            self.close()
            raise

    # --- setup ----------------------------------------------------------------
    def _stdio(self, stdin: Any, stdout: Any, stderr: Any, have_input: bool) -> None:
        if have_input and stdin not in (None, PIPE):
            raise ValueError("input= and stdin= cannot both be given")
        if have_input:
            stdin = PIPE
        for k, (name, spec) in enumerate((("stdin", stdin), ("stdout", stdout), ("stderr", stderr))):
            if spec is None:
                # Inherit ours, like a child process; a closed one becomes /dev/null.
                try:
                    os.fstat(k)
                    self.pass_fds.append(k)
                    continue
                except OSError:
                    spec = DEVNULL
            if spec == DEVNULL:
                fd = os.open(os.devnull, (os.O_RDONLY if k == 0 else os.O_WRONLY) | os.O_CLOEXEC)
                self.owned.append(fd)
                self.pass_fds.append(fd)
            elif spec == PIPE:
                r, w = os.pipe2(os.O_CLOEXEC)
                if k == 0:
                    self.input_fd = w
                    os.set_blocking(w, False)
                    self.owned.append(r)
                    self.pass_fds.append(r)
                else:
                    os.set_blocking(r, False)
                    self.captured[r] = bytearray()
                    self.capture_of[name] = r
                    self.owned.append(w)
                    self.pass_fds.append(w)
            else:
                fd = _fd_of(spec, name)
                if fd < 0:
                    raise ValueError(f"{name}: invalid file descriptor {fd}")
                self.pass_fds.append(fd)

    # --- what to wait for ------------------------------------------------------
    def want(self) -> List[Tuple[int, bool]]:
        """(fd, want_write) pairs to wait on."""
        assert self.sock is not None
        w: List[Tuple[int, bool]] = []
        if self.ended is None:
            if self.out:
                w.append((self.sock.fileno(), True))
            w.append((self.sock.fileno(), False))
        w += [(fd, False) for fd in self.captured if fd not in self._eof]
        if self.input_fd is not None and self.started is not None:
            w.append((self.input_fd, True))
        return w

    @property
    def done(self) -> bool:
        if self.ended is None:
            return False
        if all(fd in self._eof for fd in self.captured):
            return True
        # Something outside the task holds a captured pipe open: stop soon.
        return time.monotonic() - self.ended_at > _DRAIN_SECONDS

    def wait_seconds(self) -> Optional[float]:
        """How long the driver may wait (None: for ever); Timeout when a
        deadline has passed."""
        limits = []
        if self.ended is not None:
            # The task is over: only its captured output is still coming.
            return max(0.0, _DRAIN_SECONDS - (time.monotonic() - self.ended_at)) + 0.01
        try:
            if self.started is None:
                left = self.start_deadline.left()
                if left is not None:
                    limits.append(left)
            left = self.deadline.left()
            if left is not None:
                limits.append(left)
        except Timeout:
            raise self.timeout_error() from None
        if self.out and self.started is not None:
            limits.append(0.05)  # a signal queued from a handler: retry soon
        return min(limits) if limits else None

    # --- events ------------------------------------------------------------------
    def connect_step(self) -> bool:
        if self.sock is None:
            self.sock = _wire.start_connect(self.path)
        if _wire.try_connect(self.sock, self.path):
            return True
        return False

    def writable(self, fd: int) -> None:
        if self.sock is not None and fd == self.sock.fileno():
            self._flush()
        elif fd == self.input_fd:
            self._feed_input()

    def readable(self, fd: int) -> None:
        if self.sock is not None and fd == self.sock.fileno():
            self._read_socket()
        elif fd in self.captured:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            if data:
                self.captured[fd] += data
            else:
                self._eof.add(fd)

    def _flush(self) -> None:
        assert self.sock is not None
        with self.lock:
            while self.out:
                try:
                    if self.pass_fds:
                        n = _wire.send_with_fds(self.sock, bytes(self.out), self.pass_fds)
                        # The broker holds the descriptors now; ours are not
                        # needed (a pipe must see EOF when the task is gone).
                        self.pass_fds = []
                        self._close_owned()
                    else:
                        n = self.sock.send(self.out, socket.MSG_NOSIGNAL)
                except (BlockingIOError, InterruptedError):
                    return
                except (BrokenPipeError, ConnectionResetError):
                    # Read what the broker said before closing (or see EOF).
                    self.out.clear()
                    return
                del self.out[:n]

    def _feed_input(self) -> None:
        assert self.input_fd is not None
        try:
            while self.input:
                n = os.write(self.input_fd, self.input[:65536])
                self.input = self.input[n:]
        except BlockingIOError:
            return
        except BrokenPipeError:
            pass  # the task closed its stdin: what is left is not wanted
        os.close(self.input_fd)
        self.input_fd = None

    def _read_socket(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            data = b""
        if data:
            self.reader.feed(data)
        # Every complete message already here, not just the first: the end
        # may arrive in the same read as the start (a task that exits at once).
        while self.ended is None:
            frame = self.reader.next_frame()
            if frame is None:
                break
            self._message(frame)
        if not data and self.ended is None:
            if self.started is None:
                raise ConnectionLost("the broker closed the connection before the task started")
            raise ConnectionLost(f"lost the broker connection of {self.started.agent}'s task; the broker ends it")

    def _message(self, frame: bytes) -> None:
        params, error = _wire.decode_reply(frame)
        if error is not None:
            raise from_reply(error, params)
        if self.started is None:
            s = from_json(_RunStarted, params, "Run start")
            self.started = RunningTask(s.agent, s.pid, self)
            with self.lock:
                queued, self.pending_signals = self.pending_signals, []
            for signum in queued:
                self.send_signal(signum)
            if self.on_start is not None:
                self.on_start(self.started)
        else:
            self.ended = from_json(_RunEnded, params, "Run end")
            self.ended_at = time.monotonic()
            if self.input_fd is not None:
                os.close(self.input_fd)
                self.input_fd = None

    def send_signal(self, signum: int) -> None:
        """Forward signum to the task (queued until it has started). Safe in
        a signal handler and from other threads."""
        if self.ended is not None or self.sock is None:
            return
        if self.started is None:
            self.pending_signals.append(signum)
            return
        frame = _wire.encode_request(_protocol.METHOD_SIGNAL, {"signal": signum})
        if not self.lock.acquire(blocking=False):
            # Interrupted _flush in this very thread (a signal handler):
            # queue it; the driver retries within 50 ms.
            self.out += frame
            return
        try:
            self.out += frame
        finally:
            self.lock.release()
        if self.sock.fileno() >= 0:
            self._flush()
        if self.wake is not None:
            self.wake()

    # --- the end ---------------------------------------------------------------------
    def result(self) -> RunResult:
        assert self.started is not None and self.ended is not None
        e = self.ended
        out = self.capture_of.get("stdout")
        err = self.capture_of.get("stderr")
        return RunResult(agent=e.agent, ended=e.ended, exit_status=e.exit_status, signal=e.signal,
                         teardown_usec=e.teardown_usec, pid=self.started.pid, identity=self.started.identity,
                         stdout=bytes(self.captured[out]) if out is not None else None,
                         stderr=bytes(self.captured[err]) if err is not None else None)

    def _close_owned(self) -> None:
        for fd in self.owned:
            try:
                os.close(fd)
            except OSError:
                pass
        self.owned = []

    def close(self) -> None:
        """Close everything; if the task still runs, the broker ends it."""
        if self.sock is not None:
            self.sock.close()
        self._close_owned()
        for fd in list(self.captured):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.input_fd is not None:
            os.close(self.input_fd)
            self.input_fd = None

    def timeout_error(self) -> Timeout:
        if self.started is None:
            return Timeout("Run: the task did not start in time")
        return Timeout(f"Run: the task of {self.started.agent} did not end in time; it was ended "
                       "(its connection closed)")


# --- drivers --------------------------------------------------------------------------
def run_sync(session: _RunSession, forward_signals: bool) -> RunResult:
    previous: Dict[int, Any] = {}
    try:
        if forward_signals and threading.current_thread() is threading.main_thread():
            for s in FORWARDED_SIGNALS:
                previous[s] = _signal.signal(s, lambda signum, _frame: session.send_signal(signum))
        pause = 0.001
        while not session.connect_step():
            left = session.wait_seconds()
            time.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, 0.05)
        while not session.done:
            poller = select.poll()
            interest: Dict[int, int] = {}
            for fd, write in session.want():
                interest[fd] = interest.get(fd, 0) | (select.POLLOUT if write else select.POLLIN)
            for fd, ev in interest.items():
                poller.register(fd, ev)
            left = session.wait_seconds()
            ready = poller.poll(None if left is None else max(1, int(left * 1000) + 1))
            for fd, ev in ready:
                if ev & (select.POLLOUT | select.POLLERR) and interest[fd] & select.POLLOUT:
                    session.writable(fd)
                if ev & (select.POLLIN | select.POLLHUP | select.POLLERR) and interest[fd] & select.POLLIN:
                    session.readable(fd)
        return session.result()
    finally:
        for s, h in previous.items():
            _signal.signal(s, h if h is not None else _signal.SIG_DFL)
        session.close()


async def run_async(session: _RunSession) -> RunResult:
    loop = asyncio.get_running_loop()
    try:
        pause = 0.001
        while not session.connect_step():
            left = session.wait_seconds()
            await asyncio.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, 0.05)
        while not session.done:
            fut: asyncio.Future = loop.create_future()
            ready: List[Tuple[int, bool]] = []

            def fire(fd: int, write: bool) -> None:
                ready.append((fd, write))
                if not fut.done():
                    fut.set_result(None)

            def wake() -> None:
                loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(None))

            session.wake = wake
            readers, writers = set(), set()
            for fd, write in session.want():
                if write and fd not in writers:
                    writers.add(fd)
                    loop.add_writer(fd, fire, fd, True)
                elif not write and fd not in readers:
                    readers.add(fd)
                    loop.add_reader(fd, fire, fd, False)
            try:
                left = session.wait_seconds()
                try:
                    await asyncio.wait_for(fut, left)
                except asyncio.TimeoutError:
                    pass
            finally:
                for fd in readers:
                    loop.remove_reader(fd)
                for fd in writers:
                    loop.remove_writer(fd)
                session.wake = None
            for fd, write in ready:
                if write:
                    session.writable(fd)
                else:
                    session.readable(fd)
        return session.result()
    finally:
        session.close()
