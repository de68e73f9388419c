# SPDX-License-Identifier: MIT
"""The client's side of the wire against a scripted fake broker (unit level:
what the real broker cannot be made to do on demand, such as splitting or
merging frames, malformed replies, silence, InternalError and AuditFailed).
Everything else is tested against the real broker."""
import array
import asyncio
import json
import os
import socket
import tempfile
import threading
import time
import unittest

import agentid
from agentid import _protocol


def frame(obj):
    return json.dumps(obj).encode() + b"\0"


class FakeBroker:
    """Accepts connections on a temporary socket; handler(conn) scripts each."""

    def __init__(self, handler):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "fake.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.handler = handler
        self.requests = []
        self.fds = []
        self.errors = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def read_request(self, conn):
        buf = b""
        while b"\0" not in buf:
            data, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(3 * 4))
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(payload[:len(payload) - len(payload) % 4])
                    self.fds.append(list(fds))
            if not data:
                return None
            buf += data
        req = json.loads(buf.split(b"\0", 1)[0])
        self.requests.append(req)
        return req

    def _one(self, conn):
        try:
            with conn:
                self.handler(self, conn)
        except Exception as e:  # surfaced by the test
            self.errors.append(e)

    def close(self):
        self.listener.close()
        for fds in self.fds:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.dir.cleanup()


class WireTest(unittest.TestCase):
    def fake(self, handler):
        f = FakeBroker(handler)
        self.addCleanup(f.close)
        return f, agentid.Client(socket=f.path, timeout=2)

    def test_reply_split_across_reads(self):
        def handler(f, conn):
            f.read_request(conn)
            data = frame({"parameters": {"revoked": ["ag-x-aaaaaa"], "count": 1}})
            for k in range(len(data)):
                conn.sendall(data[k:k + 1])
                time.sleep(0.001)
        _, c = self.fake(handler)
        self.assertEqual(c.revoke("ag-x-aaaaaa"), agentid.RevokeResult(["ag-x-aaaaaa"], 1))

    def test_every_error_class_carries_the_message(self):
        for wire, cls in agentid.ERROR_CLASSES.items():
            def handler(f, conn, wire=wire):
                f.read_request(conn)
                conn.sendall(frame({"error": wire, "parameters": {"message": f"because {wire}"}}))
            _, c = self.fake(handler)
            with self.assertRaises(cls) as cm:
                c.status()
            self.assertEqual(cm.exception.message, f"because {wire}")
            self.assertEqual(cm.exception.error, wire)
            self.assertIn(f"because {wire}", str(cm.exception))

    def test_unknown_error_is_a_broker_error(self):
        def handler(f, conn):
            f.read_request(conn)
            conn.sendall(frame({"error": "io.agentid.SomethingNew", "parameters": {"message": "new"}}))
        _, c = self.fake(handler)
        with self.assertRaises(agentid.BrokerError) as cm:
            c.status()
        self.assertIs(type(cm.exception), agentid.BrokerError)
        self.assertEqual(cm.exception.error, "io.agentid.SomethingNew")

    def test_hostile_replies(self):
        bad = [
            b"not json\0",
            b"[1,2]\0",
            b'{"parameters":{"a":1},"parameters":{"a":2}}\0',   # duplicate keys
            b'{"parameters":[]}\0',
            b'{"parameters":{"version":1,"pid":"x","caller":{}}}\0',  # wrong types
            b"\xff\xfe\0",
        ]
        for data in bad:
            def handler(f, conn, data=data):
                f.read_request(conn)
                conn.sendall(data)
            _, c = self.fake(handler)
            with self.assertRaises(agentid.ProtocolViolation, msg=data):
                c.status()

    def test_reply_larger_than_the_limit(self):
        def handler(f, conn):
            f.read_request(conn)
            try:
                conn.sendall(b"x" * (_protocol.MESSAGE_MAX + 10))
            except OSError:
                pass
        _, c = self.fake(handler)
        with self.assertRaises(agentid.ProtocolViolation):
            c.status()

    def test_silent_broker_times_out(self):
        def handler(f, conn):
            f.read_request(conn)
            time.sleep(3)
        f, _ = self.fake(handler)
        c = agentid.Client(socket=f.path, timeout=0.3)
        start = time.monotonic()
        with self.assertRaises(agentid.Timeout):
            c.status()
        self.assertLess(time.monotonic() - start, 2.5)

    def test_closed_without_reply(self):
        def handler(f, conn):
            f.read_request(conn)
        _, c = self.fake(handler)
        with self.assertRaises(agentid.ConnectionLost):
            c.status()

    def test_no_broker(self):
        c = agentid.Client(socket="/nonexistent/agentid.sock", timeout=1)
        with self.assertRaises(agentid.ConnectionFailed) as cm:
            c.status()
        self.assertIsInstance(cm.exception, OSError)

    def test_request_too_large_is_refused_locally(self):
        c = agentid.Client(socket="/nonexistent/agentid.sock", timeout=1)
        with self.assertRaises(agentid.MessageTooLarge):
            c.mint(reason="x" * _protocol.REQUEST_MAX)

    def test_text_that_is_not_utf8(self):
        c = agentid.Client(socket="/nonexistent/agentid.sock", timeout=1)
        with self.assertRaises(ValueError):
            c.mint(reason="bad \udcff")
        with self.assertRaises(TypeError):
            c.run("echo hi")

    def test_request_shape(self):
        def handler(f, conn):
            f.read_request(conn)
            conn.sendall(frame({"parameters": {"name": "ag-t-aaaaaa", "uid": 5}}))
        f, c = self.fake(handler)
        c.mint(template="t", ttl=90, reason="why")
        self.assertEqual(f.requests[-1], {"method": _protocol.METHOD_MINT,
                                          "parameters": {"template": "t", "ttl": 90, "reason": "why"}})


def run_script(started_and_ended_together):
    """A fake Run: checks the three descriptors, answers start and end."""
    def handler(f, conn):
        req = f.read_request(conn)
        assert req["method"] == _protocol.METHOD_RUN, req
        assert len(f.fds[-1]) == 3, f.fds
        os.write(f.fds[-1][1], b"out\n")
        for fd in f.fds[-1]:
            os.close(fd)
        f.fds[-1] = []
        start = frame({"parameters": {"agent": {"name": "ag-t-aaaaaa", "uid": 7}, "pid": 42}})
        end = frame({"parameters": {"ended": "exited", "exit_status": 5, "signal": None, "agent": "ag-t-aaaaaa",
                                    "teardown_usec": 1}})
        if started_and_ended_together:
            conn.sendall(start + end)
            # The connection stays open: a client that missed the end
            # message already buffered would wait here for ever.
            time.sleep(5)
        else:
            conn.sendall(start)
            time.sleep(0.05)
            conn.sendall(end)
    return handler


class RunWireTest(unittest.TestCase):
    def test_start_and_end_in_one_read(self):
        # Issue 18: both replies arrive in one read; the end must be seen
        # without waiting for more bytes.
        for together in (True, False):
            f = FakeBroker(run_script(together))
            self.addCleanup(f.close)
            c = agentid.Client(socket=f.path, timeout=2)
            begin = time.monotonic()
            r = c.run(["x"], stdout=agentid.PIPE, timeout=3)
            self.assertLess(time.monotonic() - begin, 2)
            self.assertEqual((r.agent, r.exit_status, r.pid, r.stdout), ("ag-t-aaaaaa", 5, 42, b"out\n"))

    def test_start_and_end_in_one_read_async(self):
        f = FakeBroker(run_script(True))
        self.addCleanup(f.close)
        c = agentid.Client(socket=f.path, timeout=2)
        r = asyncio.run(asyncio.wait_for(c.run_async(["x"], stdout=agentid.PIPE), 3))
        self.assertEqual((r.exit_status, r.stdout), (5, b"out\n"))

    def test_error_before_start(self):
        def handler(f, conn):
            f.read_request(conn)
            conn.sendall(frame({"error": _protocol.ERROR_TASK_FAILED, "parameters": {"message": "nope: No such file"}}))
        f = FakeBroker(handler)
        self.addCleanup(f.close)
        with self.assertRaises(agentid.TaskFailed):
            agentid.Client(socket=f.path, timeout=2).run(["x"])

    def test_broker_gone_mid_task(self):
        def handler(f, conn):
            f.read_request(conn)
            conn.sendall(frame({"parameters": {"agent": {"name": "ag-t-aaaaaa", "uid": 7}, "pid": 42}}))
        f = FakeBroker(handler)
        self.addCleanup(f.close)
        with self.assertRaises(agentid.ConnectionLost) as cm:
            agentid.Client(socket=f.path, timeout=2).run(["x"], stdin=agentid.DEVNULL)
        self.assertIn("ag-t-aaaaaa", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
