# SPDX-License-Identifier: MIT
"""Every method of agentid.Client against the real broker."""
import dataclasses
import datetime
import json
import os
import threading
import unittest

import agentid
from agentid import _protocol

import support
from support import needs_broker


def in_task(client, code, **kwargs):
    """Run Python code as a fresh agent; its stdout, parsed as JSON."""
    r = client.run(support.in_task_code(code), env=support.TASK_ENV, stdout=agentid.PIPE, stderr=agentid.PIPE,
                   timeout=30, **kwargs)
    if r.exit_status != 0:
        raise AssertionError(f"task failed ({r.ended}, {r.exit_status}): {r.stderr.decode()}")
    return r, json.loads(r.stdout)


TOKEN_CODE = """
import dataclasses, json, sys, agentid
c = agentid.Client()
t = c.token(audience=sys.argv[1] if len(sys.argv) > 1 else "mcp://tools", scopes=["mcp:call"], ttl="1m")
g = c.grant(audience="mcp://tools")
print(json.dumps({"token": dataclasses.asdict(t), "grant": dataclasses.asdict(g)}))
"""


@needs_broker
class IdentityMethodsTest(unittest.TestCase):
    def setUp(self):
        self.c = support.client()

    def test_status(self):
        s = self.c.status()
        self.assertIsInstance(s, agentid.Status)
        self.assertEqual(s.caller, agentid.Caller(uid=0, admin=True))
        self.assertGreater(s.pid, 0)
        names = {t.name for t in s.templates}
        self.assertEqual(names, {"default", "tools", "stepup"})
        tools = next(t for t in s.templates if t.name == "tools")
        self.assertIsInstance(tools, agentid.TemplateInfo)
        self.assertEqual(tools.scopes, ["mcp:call", "mcp:read"])
        self.assertEqual(tools.description, "One tool call of an agent loop")
        # The test broker has no systemd: the direct runtime, with its walls.
        self.assertEqual(s.runtime, "direct")
        self.assertIsInstance(s.runtime_landlock_abi, int)
        self.assertIsInstance(s.runtime_seccomp, bool)

    def test_mint_show_list_revoke(self):
        a = self.c.mint(template="tools", ttl="5m", reason="triage ticket 4411", on_behalf_of="alice@example.com")
        self.assertIsInstance(a, agentid.Identity)
        self.assertRegex(a.name, r"^ag-tools-[a-z0-9]{6}$")
        self.assertEqual((a.state, a.template, a.owner_uid, a.reason, a.on_behalf_of),
                         ("live", "tools", 0, "triage ticket 4411", "alice@example.com"))
        self.assertEqual(a.expires_usec - a.created_usec, 300 * 1000000)
        self.assertEqual(a.invoker_pid, os.getpid())
        self.assertEqual(self.c.show(a.name).uid, a.uid)
        shown = self.c.show(a.uid)
        self.assertEqual(shown.name, a.name)
        self.assertEqual(shown.delegation[-2:], [agentid.DelegationLink(sub="root", kind="user", uid=0),
                                                 agentid.DelegationLink(sub="alice@example.com",
                                                                        kind="on_behalf_of")])
        self.assertIn(a.name, [i.name for i in self.c.list()])
        self.assertIn(a.name, [i.name for i in self.c.list(owner=0)])
        r = self.c.revoke(a.name, reason="done")
        self.assertEqual(r, agentid.RevokeResult(revoked=[a.name], count=1))
        self.assertNotIn(a.name, [i.name for i in self.c.list()])
        ended = [i for i in self.c.list(all=True) if i.name == a.name]
        self.assertEqual(len(ended), 1)
        self.assertEqual(ended[0].state, "revoked")
        self.assertEqual(self.c.show(a.name).end_reason, "done")

    def test_ttl_forms(self):
        for ttl, seconds in (("90s", 90), (120, 120), (datetime.timedelta(minutes=3), 180), ("1m30s", 90)):
            a = self.c.mint(ttl=ttl)
            self.assertEqual((a.expires_usec - a.created_usec) // 1000000, seconds, ttl)
            self.c.revoke(a.uid)
        with self.assertRaises(ValueError):
            self.c.mint(ttl=datetime.timedelta(seconds=1.5))

    def test_revoke_selectors(self):
        names = [self.c.mint(reason="batch").name for _ in range(3)]
        r = self.c.revoke(*names[:2])
        self.assertEqual((sorted(r.revoked), r.count), (sorted(names[:2]), 2))
        r = self.c.revoke(owner=0, reason="owner sweep")
        self.assertIn(names[2], r.revoked)
        self.c.mint()
        r = self.c.revoke(all=True)
        self.assertGreaterEqual(r.count, 1)
        self.assertEqual(self.c.list(), [])
        for bad in ({}, {"all": True, "owner": 0}):
            with self.assertRaises(ValueError):
                self.c.revoke(*(["x"] if not bad else []), **bad) if bad else self.c.revoke()

    def test_list_pages(self):
        # More than one page is read whole, in uid order.
        minted = [self.c.mint(reason="page").uid for _ in range(5)]
        seen = [i.uid for i in self.c.list()]
        for uid in minted:
            self.assertIn(uid, seen)
        self.assertEqual(seen, sorted(seen))
        self.c.revoke(*minted)

    def test_results_are_dataclasses(self):
        a = self.c.mint()
        self.assertTrue(dataclasses.is_dataclass(a))
        with self.assertRaises(dataclasses.FrozenInstanceError):
            a.name = "x"
        self.c.revoke(a.name)

    def test_audit(self):
        r = self.c.run(["true"], template="tools", reason="audited call", on_behalf_of="bob@example.com")
        trail = self.c.audit(agent=r.agent)
        self.assertIsInstance(trail, agentid.AuditTrail)
        self.assertEqual(trail.identity.name, r.agent)
        self.assertEqual(trail.identity.on_behalf_of, "bob@example.com")
        kinds = [e.event for e in trail.events]
        for kind in ("mint", "run", "revoke", "kill"):
            self.assertIn(kind, kinds, kinds)
        self.assertTrue(all(isinstance(e, agentid.AuditEvent) and e.agent == r.agent for e in trail.events))
        seqs = [e.seq for e in trail.events]
        self.assertEqual(seqs, sorted(seqs))
        self.assertGreaterEqual(trail.tip.seq, seqs[-1])
        mints = self.c.audit(event="mint", since_usec=r.identity.created_usec)
        self.assertIn(r.agent, [e.agent for e in mints.events])
        with self.assertRaises(agentid.NoSuchAgent):
            self.c.audit(agent="ag-tools-zzzzzz")

    def test_low_level_call(self):
        keys = self.c.call(_protocol.METHOD_JWKS)["keys"]
        self.assertEqual(keys[0]["kty"], "OKP")


@needs_broker
class CredentialMethodsTest(unittest.TestCase):
    def setUp(self):
        self.c = support.client()

    def test_token_verify_grant_redeem(self):
        run, out = in_task(self.c, TOKEN_CODE, template="tools", reason="token test")
        token, grant = out["token"], out["grant"]
        self.assertEqual(token["audience"], "mcp://tools")
        self.assertEqual(token["token"].count("."), 2)
        # The task is over and its agent revoked: its token is no longer good.
        with self.assertRaises(agentid.TokenRevoked):
            self.c.verify(token["token"], audience="mcp://tools")
        with self.assertRaises(agentid.TokenRevoked):
            self.c.redeem(grant["grant"], audience="mcp://tools")

    def test_verify_and_redeem_while_live(self):
        # The task verifies its own token and redeems its own grant through
        # a second client while it is still live.
        code = TOKEN_CODE + """
out = json.loads(json.dumps({"token": dataclasses.asdict(t)}))
v = c.verify(t, audience="mcp://tools")
r = c.redeem(g.grant, audience="mcp://tools")
try:
    c.redeem(g, audience="mcp://tools")
    again = "redeemed twice"
except agentid.GrantUsed as e:
    again = e.message
print(json.dumps({"v": dataclasses.asdict(v), "r": dataclasses.asdict(r), "again": again}))
"""
        run, out = in_task(self.c, code.replace("print(json.dumps({\"token\"", "_ = (json.dumps({\"token\"", 1),
                           template="tools")
        v = out["v"]
        self.assertTrue(v["valid"])
        self.assertEqual(v["agent"], run.agent)
        self.assertEqual(v["uid"], run.identity.uid)
        self.assertEqual(v["claims"]["aud"], "mcp://tools")
        self.assertEqual(v["claims"]["scope"], "mcp:call")
        self.assertEqual(out["r"]["agent"], run.agent)
        self.assertIn("grant", out["again"])

    def test_verify_from_the_orchestrator(self):
        # A long-running task hands its token out; the orchestrator verifies it.
        box = {}
        ready = threading.Event()

        def started(task):
            box["task"] = task
            ready.set()
        result = {}
        code = TOKEN_CODE + "sys.stdout.flush()\nimport time\nsys.stdin.read()\n"
        r_fd, w_fd = os.pipe()
        in_r, in_w = os.pipe()

        def go():
            result["r"] = self.c.run(support.in_task_code(code), env=support.TASK_ENV, template="tools", stdout=w_fd,
                                     stdin=in_r, on_start=started, timeout=30)
        t = threading.Thread(target=go)
        t.start()
        # Ours are closed only once the broker holds them.
        self.assertTrue(ready.wait(30))
        os.close(w_fd)
        os.close(in_r)
        with os.fdopen(r_fd) as f:
            line = f.readline()
        out = json.loads(line)
        v = self.c.verify(out["token"]["token"], audience="mcp://tools")
        self.assertIsInstance(v, agentid.Verification)
        self.assertEqual(v.agent, box["task"].agent)
        with self.assertRaises(agentid.AudienceMismatch):
            self.c.verify(out["token"]["token"], audience="mcp://other")
        red = self.c.redeem(out["grant"]["grant"], audience="mcp://tools")
        self.assertEqual(red.agent, box["task"].agent)
        with self.assertRaises(agentid.GrantUsed):
            self.c.redeem(out["grant"]["grant"], audience="mcp://tools")
        os.close(in_w)  # the task reads EOF and exits
        t.join(30)
        self.assertEqual(result["r"].exit_status, 0)
        with self.assertRaises(agentid.TokenRevoked):
            self.c.verify(out["token"]["token"], audience="mcp://tools")


@needs_broker
class StepUpMethodsTest(unittest.TestCase):
    def setUp(self):
        self.c = support.client()

    def ask(self, agent):
        # What pam_agentid does in sudo: StepUp as root, held on its connection.
        conn = support.RawConnection()
        self.addCleanup(conn.close)
        reply = conn.call(_protocol.METHOD_STEP_UP, {"agent": agent, "service": "sudo",
                                                     "command": "/usr/bin/id", "rule": "approve"})
        self.assertEqual(reply["parameters"]["decision"], "pending", reply)
        return reply["parameters"]["id"], conn

    def test_pending_approve_deny(self):
        a = self.c.mint(template="stepup", reason="needs root once")
        id1, conn1 = self.ask(a.name)
        id2, conn2 = self.ask(a.name)
        pending = {p.id: p for p in self.c.pending()}
        self.assertIn(id1, pending)
        p = pending[id1]
        self.assertIsInstance(p, agentid.StepUpRequest)
        self.assertEqual((p.agent, p.service, p.command, p.state, p.owner), (a.name, "sudo", "/usr/bin/id", "pending",
                                                                               "root"))
        d = self.c.approve(id1, reason="ok for 4411")
        self.assertEqual(d, agentid.Decision(id=id1, decision="approved", agent=a.name))
        d = self.c.deny(id2, reason="not this one")
        self.assertEqual(d.decision, "denied")
        self.assertEqual([p for p in self.c.pending() if p.id in (id1, id2)], [])
        with self.assertRaises(agentid.NoSuchRequest):
            self.c.approve(id2)
        self.c.revoke(a.name)


if __name__ == "__main__":
    unittest.main()
