# SPDX-License-Identifier: MIT
"""Callers without rights get PermissionDenied, and nothing changes: an
unprivileged user (nobody, by setpriv, as the shell tests do) and an agent
reaching past its own identity."""
import json
import pwd
import grp
import unittest

import agentid

import support
from support import needs_broker
from test_run import wait_for

AS_NOBODY = """
import json, agentid
c = agentid.Client()
out = {}
for what, call in (("mint", lambda: c.mint()),
                   ("mint_tools", lambda: c.mint(template="tools")),
                   ("run", lambda: c.run(["true"])),
                   ("revoke_all", lambda: c.revoke(all=True)),
                   ("revoke_owner", lambda: c.revoke(owner=0)),
                   ("token", lambda: c.token()),
                   ("approve", lambda: c.approve("r00000000000"))):
    try:
        call()
        out[what] = "allowed"
    except agentid.PermissionDenied as e:
        out[what] = ["PermissionDenied", e.message, e.error]
    except agentid.BrokerError as e:
        out[what] = [type(e).__name__, e.message, e.error]
s = c.status()
out["status"] = [s.caller.uid, s.caller.admin]
out["list"] = [a.name for a in c.list(all=True)]
out["pending"] = [p.id for p in c.pending()]
print(json.dumps(out))
"""


@needs_broker
class PermissionTest(unittest.TestCase):
    def setUp(self):
        self.c = support.client()

    def test_nobody(self):
        nobody = pwd.getpwnam("nobody").pw_uid
        nogroup = grp.getgrnam("nogroup").gr_gid
        live = self.c.mint(reason="root's own")
        identities, denies = support.count_identities(), support.count_events("deny")
        p = support.python_as(nobody, nogroup, AS_NOBODY)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        for what in ("mint", "mint_tools", "run", "revoke_all", "token"):
            self.assertEqual(out[what][0], "PermissionDenied", f"{what}: {out[what]}")
            self.assertEqual(out[what][2], "io.agentid.PermissionDenied")
            self.assertTrue(out[what][1], "the broker's message")
        # Revoking "every agent of root" finds none of nobody's to revoke, or is denied.
        self.assertIn(out["revoke_owner"][0], ("PermissionDenied",), out["revoke_owner"])
        self.assertIn(out["approve"][0], ("PermissionDenied", "NoSuchRequest"))
        self.assertEqual(out["status"], [nobody, False])
        self.assertEqual(out["list"], [], "nobody sees root's agents")
        self.assertEqual(out["pending"], [])
        self.assertEqual(support.count_identities(), identities, "a denied request changed something")
        # A user who is no invoker is counted, and recorded when its
        # refusal window (1 s here) ends.
        self.assertTrue(wait_for(lambda: support.count_events("deny", "%from uid " + str(nobody) + "%") > 0
                                 and support.count_events("deny") > denies, 10), "denials are recorded")
        self.assertEqual(self.c.show(live.name).state, "live")
        self.c.revoke(live.name)

    def test_agent_reaching_past_itself(self):
        victim = self.c.mint(template="stepup", reason="victim")
        # A real pending step-up request of the victim, held as sudo would.
        conn = support.RawConnection()
        self.addCleanup(conn.close)
        held = conn.call(agentid.protocol.METHOD_STEP_UP, {"agent": victim.name, "service": "sudo",
                                                           "rule": "approve"})["parameters"]["id"]
        code = f"""
import json, agentid
c = agentid.Client()
out = {{}}
for what, call in (("revoke", lambda: c.revoke({victim.name!r})),
                   ("show", lambda: c.show({victim.name!r})),
                   ("mint_other_template", lambda: c.mint(template="stepup")),
                   ("approve", lambda: c.approve({held!r}))):
    try:
        call()
        out[what] = "allowed"
    except agentid.BrokerError as e:
        out[what] = type(e).__name__
print(json.dumps(out))
"""
        r = self.c.run(support.in_task_code(code), env=support.TASK_ENV, template="tools", stdout=agentid.PIPE,
                       stderr=agentid.PIPE)
        self.assertEqual(r.exit_status, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["revoke"], "PermissionDenied")
        self.assertEqual(out["show"], "PermissionDenied")
        self.assertEqual(out["mint_other_template"], "PermissionDenied")
        self.assertEqual(out["approve"], "PermissionDenied")
        self.assertEqual(self.c.show(victim.name).state, "live")
        self.assertEqual([p.state for p in self.c.pending() if p.id == held], ["pending"])
        self.c.revoke(victim.name)


if __name__ == "__main__":
    unittest.main()
