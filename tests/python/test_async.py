# SPDX-License-Identifier: MIT
"""Client.run_async: many tool calls at once on one event loop, none
stalling; cancelling one ends its task."""
import asyncio
import os
import signal
import time
import unittest

import agentid

import support
from support import needs_broker
from test_run import live_procs_of, wait_for

CONCURRENT = 50


@needs_broker
class AsyncRunTest(unittest.TestCase):
    def setUp(self):
        self.c = support.client(timeout=30)

    def test_fifty_concurrent_runs(self):
        fds_before = len(os.listdir("/proc/self/fd"))
        active, peak = 0, 0

        def started(task):
            nonlocal active, peak
            active += 1
            peak = max(peak, active)

        async def one(k):
            nonlocal active
            begin = time.monotonic()
            r = await self.c.run_async(["sh", "-c", f'read x; echo "$AGENTID_NAME $x"; sleep 1; exit {k % 7}'],
                                       input=f"call-{k}\n".encode(), stdout=agentid.PIPE, on_start=started,
                                       reason=f"tool call {k}")
            active -= 1
            return k, r, time.monotonic() - begin

        async def main():
            tasks = [asyncio.create_task(one(k)) for k in range(CONCURRENT)]
            done, pending = await asyncio.wait(tasks, timeout=60)
            for t in pending:
                t.cancel()
            return done, pending

        begin = time.monotonic()
        done, pending = asyncio.run(main())
        total = time.monotonic() - begin
        self.assertEqual(len(pending), 0, f"{len(pending)} runs stalled")
        results = [t.result() for t in done]
        names = set()
        for k, r, took in results:
            name, call = r.stdout.decode().split()
            # (A signal here is someone else's kill: another broker's orphan
            # sweep over an overlapping uid range.)
            self.assertEqual((name, call, r.exit_status, r.ended), (r.agent, f"call-{k}", k % 7, "exited"),
                             f"run {k}: signal {r.signal}")
            self.assertEqual(r.identity.reason, f"tool call {k}")
            self.assertLess(took, 30, f"run {k} took {took:.1f}s")
            names.add(r.agent)
        self.assertEqual(len(names), CONCURRENT, "every run is a fresh agent")
        # They ran at the same time: one after another would take 50 s.
        self.assertGreaterEqual(peak, 10, "runs did not overlap")
        self.assertLess(total, 30, f"{CONCURRENT} concurrent runs took {total:.1f}s")
        print(f"\n{CONCURRENT} concurrent runs of a 1 s task: {total:.2f} s, up to {peak} at once",
              flush=True)
        self.assertEqual([a for a in self.c.list() if a.name in names], [], "identities left live")
        self.assertEqual(len(os.listdir("/proc/self/fd")), fds_before, "descriptors leaked")

    def test_cancel_ends_the_task(self):
        box = {}

        async def main():
            await asyncio.wait_for(self.c.run_async(["sleep", "100"], on_start=lambda t: box.update(
                name=t.agent, uid=t.identity.uid)), 1)
        with self.assertRaises(asyncio.TimeoutError):
            asyncio.run(main())
        self.assertTrue(wait_for(lambda: self.c.show(box["name"]).state == "revoked"))
        self.assertTrue(wait_for(lambda: live_procs_of(box["uid"]) == 0))

    def test_errors_timeout_and_signals(self):
        async def main():
            with self.assertRaises(agentid.TaskFailed):
                await self.c.run_async(["/nonexistent/cmd"])
            with self.assertRaises(agentid.NoSuchTemplate):
                await self.c.run_async(["true"], template="nope")
            with self.assertRaises(agentid.Timeout):
                await self.c.run_async(["sleep", "100"], timeout=0.5)
            r = await self.c.run_async(
                ["sh", "-c", 'trap "echo got TERM; exit 9" TERM; while :; do sleep 0.05; done'],
                stdout=agentid.PIPE, on_start=lambda t: asyncio.get_running_loop().call_later(
                    0.3, t.send_signal, signal.SIGTERM))
            self.assertEqual((r.exit_status, r.stdout), (9, b"got TERM\n"))
            r = await self.c.run_async(["sh", "-c", "kill -KILL $$"])
            self.assertEqual((r.signal, r.returncode), (signal.SIGKILL, -signal.SIGKILL))
        asyncio.run(asyncio.wait_for(main(), 60))


if __name__ == "__main__":
    unittest.main()
