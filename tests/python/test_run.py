# SPDX-License-Identifier: MIT
"""Client.run against the real broker: stdio passed by SCM_RIGHTS (pipes,
files, /dev/null, a stdin that is no terminal), exit statuses and signals,
signals forwarded to the task, and the task ended whenever the Python
process that runs it dies or gives up."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import agentid

import support
from support import needs_broker


def live_procs_of(uid):
    """Processes (not zombies) whose real, effective or saved uid is uid."""
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uids = fields.get("Uid", "").split()
        state = fields.get("State", "").split()
        if str(uid) in uids[:3] and state and state[0] not in ("Z", "X"):
            n += 1
    return n


def wait_for(predicate, seconds=5.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# A Python program that runs one task with agentid.Client.run and prints its
# result as JSON: what an orchestrator process is, for the tests that
# signal or kill it.
ORCHESTRATOR = textwrap.dedent("""
    import dataclasses, json, sys, agentid
    c = agentid.Client()
    r = c.run(json.loads(sys.argv[1]), stdout=agentid.PIPE)
    d = dataclasses.asdict(r)
    d["stdout"] = r.stdout.decode()
    print(json.dumps(d), flush=True)
""")


def orchestrator(argv, **kwargs):
    env = dict(os.environ, PYTHONPATH=support.PYTHONPATH, AGENTID_SOCKET=support.SOCKET)
    return subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, json.dumps(argv)], env=env,
                            stdout=subprocess.PIPE, text=True, **kwargs)


@needs_broker
class RunTest(unittest.TestCase):
    def setUp(self):
        self.c = support.client()

    def test_identity_of_the_task(self):
        r = self.c.run(["sh", "-c", 'echo "$AGENTID_NAME $(id -u) $HOME $GREETING"; pwd'], env={"GREETING": "hi"},
                       reason="who am i", stdout=agentid.PIPE)
        self.assertIsInstance(r, agentid.RunResult)
        name, uid, home, greeting = r.stdout.decode().split("\n")[0].split()
        self.assertEqual((name, int(uid), greeting), (r.agent, r.identity.uid, "hi"))
        self.assertEqual(r.identity.reason, "who am i")
        self.assertEqual(r.stdout.decode().split("\n")[1], home)
        self.assertEqual((r.ended, r.exit_status, r.signal, r.returncode, r.ok), ("exited", 0, None, 0, True))
        self.assertFalse(os.path.exists(home), "home left behind")
        self.assertEqual(self.c.show(r.agent).state, "revoked")

    def test_cwd_and_argv(self):
        r = self.c.run(["sh", "-c", 'pwd; printf "%s|" "$@"', "sh", "two words", "ünïcode", b"bytes"],
                       cwd="/", stdout=agentid.PIPE)
        self.assertEqual(r.stdout.decode(), "/\ntwo words|ünïcode|bytes|")

    def test_pipes(self):
        r = self.c.run(["sh", "-c", "sort -r; echo to-stderr >&2"], input=b"one\ntwo\nthree\n",
                       stdout=agentid.PIPE, stderr=agentid.PIPE)
        self.assertEqual((r.stdout, r.stderr), (b"two\nthree\none\n", b"to-stderr\n"))
        # Descriptors of our own: pipes and a file.
        in_r, in_w = os.pipe()
        err_r, err_w = os.pipe()
        os.write(in_w, b"through our own pipe\n")
        os.close(in_w)
        with tempfile.TemporaryFile() as f:
            r = self.c.run(["sh", "-c", "cat; echo err >&2"], stdin=in_r, stdout=f, stderr=err_w)
            os.close(in_r)
            os.close(err_w)
            self.assertEqual(r.exit_status, 0)
            f.seek(0)
            self.assertEqual(f.read(), b"through our own pipe\n")
        with os.fdopen(err_r, "rb") as f:
            self.assertEqual(f.read(), b"err\n")
        # A large output through a pipe does not stall the task.
        r = self.c.run(["sh", "-c", "head -c 3000000 /dev/zero"], stdout=agentid.PIPE)
        self.assertEqual(len(r.stdout), 3000000)

    def test_stdin_is_not_a_terminal(self):
        # pty-less: a pipe, /dev/null, and this process's own stdin.
        code = 'if [ -t 0 ]; then echo tty; else echo notty; fi; cat'
        r = self.c.run(["sh", "-c", code], input=b"from a pipe\n", stdout=agentid.PIPE)
        self.assertEqual(r.stdout, b"notty\nfrom a pipe\n")
        r = self.c.run(["sh", "-c", code], stdin=agentid.DEVNULL, stdout=agentid.PIPE)
        self.assertEqual(r.stdout, b"notty\n")
        p = orchestrator(["sh", "-c", code], stdin=subprocess.PIPE)
        out, _ = p.communicate("inherited stdin\n", timeout=30)
        self.assertEqual(json.loads(out)["stdout"], "notty\ninherited stdin\n")

    def test_exit_statuses(self):
        for status in (0, 1, 7, 126, 255):
            r = self.c.run(["sh", "-c", f"exit {status}"], stdin=agentid.DEVNULL)
            self.assertEqual((r.ended, r.exit_status, r.signal, r.returncode), ("exited", status, None, status))

    def test_killed_by_a_signal(self):
        for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV):
            r = self.c.run(["sh", "-c", f"kill -{int(sig)} $$"])
            self.assertEqual((r.exit_status, r.signal, r.returncode), (None, int(sig), -int(sig)))

    def test_send_signal_from_on_start(self):
        def started(task):
            self.assertRegex(task.agent, r"^ag-default-")
            self.assertGreater(task.pid, 0)
            threading.Timer(0.3, task.send_signal, (signal.SIGUSR1,)).start()
        r = self.c.run(["sh", "-c", 'trap "echo got USR1; exit 4" USR1; while :; do sleep 0.05; done'],
                       stdout=agentid.PIPE, stderr=agentid.DEVNULL, on_start=started, timeout=20)
        self.assertEqual((r.exit_status, r.stdout), (4, b"got USR1\n"))

    def test_signals_to_the_python_process_are_forwarded(self):
        for sig, name in ((signal.SIGTERM, "TERM"), (signal.SIGINT, "INT"), (signal.SIGHUP, "HUP")):
            p = orchestrator(["sh", "-c", f'trap "echo got {name}; exit 3" {name}; echo ready >&2; '
                                          'while :; do sleep 0.05; done'], stderr=subprocess.PIPE)
            self.assertEqual(p.stderr.readline(), "ready\n")
            p.send_signal(sig)
            out, _ = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, f"orchestrator died of {name}")
            r = json.loads(out)
            self.assertEqual((r["exit_status"], r["stdout"]), (3, f"got {name}\n"))

    def test_signal_handlers_restored(self):
        before = signal.getsignal(signal.SIGINT)
        self.c.run(["true"])
        self.assertIs(signal.getsignal(signal.SIGINT), before)
        seen = []
        t = threading.Thread(target=lambda: seen.append(self.c.run(["true"]).exit_status))
        t.start()  # not the main thread: no handlers, still works
        t.join(30)
        self.assertEqual(seen, [0])

    def test_python_process_killed(self):
        # SIGKILL to the orchestrator: its connection closes, the broker ends
        # the task (identity revoked, every process of it killed).
        p = orchestrator(["sh", "-c", 'echo "$AGENTID_NAME" >&2; sleep 100 & exec sleep 100'],
                         stderr=subprocess.PIPE)
        name = p.stderr.readline().strip()
        uid = self.c.show(name).uid
        self.assertTrue(wait_for(lambda: live_procs_of(uid) == 2), "task processes while running")
        p.kill()
        p.wait(10)
        p.stdout.close()
        p.stderr.close()
        self.assertTrue(wait_for(lambda: live_procs_of(uid) == 0), "processes after the orchestrator was killed")
        a = self.c.show(name)
        self.assertEqual(a.state, "revoked")
        # The kill event is recorded when teardown has finished, a moment later.
        self.assertTrue(wait_for(lambda: support.count_events("kill", "%invoker-gone%", agent=name) == 1))

    def test_exception_in_on_start_ends_the_task(self):
        box = {}

        def started(task):
            box["name"] = task.agent
            raise RuntimeError("orchestrator bug")
        with self.assertRaises(RuntimeError):
            self.c.run(["sleep", "100"], on_start=started)
        uid = self.c.show(box["name"]).uid
        self.assertTrue(wait_for(lambda: self.c.show(box["name"]).state == "revoked"))
        self.assertTrue(wait_for(lambda: live_procs_of(uid) == 0))

    def test_timeout_ends_the_task(self):
        box = {}
        start = time.monotonic()
        with self.assertRaises(agentid.Timeout) as cm:
            self.c.run(["sleep", "100"], timeout=1, on_start=lambda t: box.update(name=t.agent, uid=t.identity.uid))
        self.assertLess(time.monotonic() - start, 5)  # 1 s, with room for a loaded machine
        self.assertIn(box["name"], str(cm.exception))
        self.assertTrue(wait_for(lambda: self.c.show(box["name"]).state == "revoked"))
        self.assertTrue(wait_for(lambda: live_procs_of(box["uid"]) == 0))
        self.assertTrue(wait_for(lambda: support.count_events("kill", "%invoker-gone%", agent=box["name"]) == 1))

    def test_ttl_and_revoke_end_the_task(self):
        start = time.monotonic()
        r = self.c.run(["sleep", "100"], ttl=1)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual((r.ended, r.exit_status), ("expired", None))
        self.assertFalse(r.ok)
        other = support.client()
        r = self.c.run(["sleep", "100"], on_start=lambda t: other.revoke(t.agent, reason="operator says stop"))
        self.assertEqual(r.ended, "revoked")
        self.assertEqual(self.c.show(r.agent).end_reason, "operator says stop")

    def test_start_timeout(self):
        # The Client's timeout bounds reaching the broker and the start.
        held = [support.RawConnection(support.TINY_SOCKET) for _ in range(2)]
        try:
            for conn in held:
                conn.call(agentid.protocol.METHOD_STATUS)
            with self.assertRaises(agentid.TooManyConnections):
                agentid.Client(socket=support.TINY_SOCKET, timeout=5).run(["true"])
        finally:
            for conn in held:
                conn.close()


if __name__ == "__main__":
    unittest.main()
