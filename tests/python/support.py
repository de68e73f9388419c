# SPDX-License-Identifier: MIT
"""Shared by the Python client's tests. tests/integration/python.sh starts
the real broker (and a second, tiny one) and exports where they are; run
outside it, the tests that need a broker are skipped."""
import json
import os
import socket
import sqlite3
import subprocess
import sys
import unittest

import agentid

TEST_DIR = os.environ.get("AGENTID_TEST_DIR")
SOCKET = os.environ.get("AGENTID_SOCKET")
TINY_SOCKET = os.environ.get("AGENTID_TEST_TINY_SOCKET")
TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
AGENTCTL = os.environ.get("AGENTID_TEST_AGENTCTL", "agentctl")
# The package as agents and nobody can read it (a copy in the test dir).
PYTHONPATH = os.environ.get("PYTHONPATH", "")
# What the tasks run: Debian's interpreter, found on the task's PATH.
TASK_PYTHON = "python3"


def needs_broker(cls):
    return unittest.skipUnless(TEST_DIR and SOCKET, "needs the broker of tests/integration/python.sh")(cls)


def client(timeout=10.0):
    return agentid.Client(socket=SOCKET, timeout=timeout)


def db():
    return sqlite3.connect(f"file:{TEST_DIR}/state/agentid.db?mode=ro", uri=True, timeout=10)


def count_events(event, detail_like="%", agent=None):
    """Events of a type (detail LIKE detail_like, of one agent if given)."""
    with db() as c:
        return c.execute("SELECT count(*) FROM events WHERE event = ? AND coalesce(detail, '') LIKE ? "
                         "AND (? IS NULL OR agent = ?)", (event, detail_like, agent, agent)).fetchone()[0]


def count_identities():
    with db() as c:
        return c.execute("SELECT count(*) FROM identities").fetchone()[0]


def python_as(uid, gid, code, *args, timeout=30):
    """Run Python code as another uid (setpriv, no groups) with the package
    on its path; returns the CompletedProcess."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
           sys.executable, "-c", code, *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": PYTHONPATH,
           "AGENTID_SOCKET": SOCKET, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def in_task_code(code):
    """argv running Python code inside a task, with the package importable."""
    return [TASK_PYTHON, "-c", code]


TASK_ENV = {"PYTHONPATH": PYTHONPATH, "PYTHONDONTWRITEBYTECODE": "1"}


class RawConnection:
    """A connection held open by hand (step-up requests live as long as the
    connection that made them)."""

    def __init__(self, path=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path or SOCKET)
        self.buf = b""

    def call(self, method, params=None):
        self.sock.sendall(json.dumps({"method": method, "parameters": params or {}}).encode() + b"\0")
        while b"\0" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        frame, self.buf = self.buf.split(b"\0", 1)
        return json.loads(frame)

    def close(self):
        self.sock.close()


class LiveTask:
    """A task that runs Python code, prints one JSON line, then waits for
    its stdin to close: the test does its checks while the agent is live.

        with LiveTask(client, code, template="tools") as t:
            t.data, t.task.agent ...
    """

    def __init__(self, client, code, **kwargs):
        import threading
        self.client, self.code, self.kwargs = client, code, kwargs
        self.result = None
        self.error = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _started(self, task):
        self.task = task
        self.ready.set()

    def _run(self):
        try:
            self.result = self.client.run(in_task_code(self.code + "\nimport sys\nsys.stdout.flush()\nsys.stdin.read()\n"),
                                          env=TASK_ENV, stdin=self.in_r, stdout=self.out_w, on_start=self._started,
                                          timeout=60, **self.kwargs)
        except BaseException as e:
            self.error = e
            self.ready.set()

    def __enter__(self):
        self.out_r, self.out_w = os.pipe()
        self.in_r, self.in_w = os.pipe()
        self.thread.start()
        self.ready.wait(30)
        # The broker holds the task's ends now (or the run failed).
        os.close(self.out_w)
        os.close(self.in_r)
        if self.error:
            raise self.error
        with os.fdopen(self.out_r) as f:
            line = f.readline()
        self.data = json.loads(line)
        return self

    def __exit__(self, *exc):
        os.close(self.in_w)
        self.thread.join(30)
        if self.error and not exc[0]:
            raise self.error
        return False
