#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A small agent loop on agentid: every tool call runs as its own agent.

For each tool call (a shell command) the orchestrator:
  1. runs it with agentid.Client.run as a fresh agent minted from a template,
     with the reason and the user it is for recorded;
  2. inside the task, the call gets a signed token for the MCP server's
     audience (`agentctl token --audience ...`, by the task's own uid: no
     secret is handed in) and the MCP server's check of it is shown
     (`agentctl verify`, standing in for the server);
  3. when the call is over, its identity is revoked, its processes and home
     are gone, and the orchestrator prints the call's audit story
     (`agentctl audit NAME`, or `agentctl show NAME` where audit is missing).

    sudo python3 examples/python/agent_loop.py                   # the built-in tool calls
    sudo python3 examples/python/agent_loop.py 'id' 'ls ~'        # your own
    options: --template T (default triage) --audience A --on-behalf-of WHO --agentctl PATH

The caller must be allowed to invoke the template (root is).
"""
import argparse
import os
import shutil
import subprocess
import sys

import agentid

# What a model might ask for, one after another.
TOOL_CALLS = [
    "id -un; id -G",
    "echo \"home: $HOME\"; ls -a \"$HOME\"",
    "cat /etc/shadow",          # refused: the agent is nobody in particular
    "sleep 100 & echo left a background process behind",
]

# Runs inside the task, as the agent. The token never leaves the task.
IN_TASK = r'''
if MCP_TOKEN=$("$AGENTCTL" token --audience "$MCP_AUDIENCE" --ttl 2m 2>&1); then
        export MCP_TOKEN
        echo "[$AGENTID_NAME] token for $MCP_AUDIENCE: ${#MCP_TOKEN} bytes" >&2
        # What the MCP server would do with it (on stdin: a token on a
        # command line would show in ps and in the audit trail's argv).
        printf '%s' "$MCP_TOKEN" | "$AGENTCTL" verify - --audience "$MCP_AUDIENCE" 2>&1 |
                sed "s/^/[$AGENTID_NAME] mcp server: /" >&2
else
        echo "[$AGENTID_NAME] no token for $MCP_AUDIENCE: $MCP_TOKEN" >&2
fi
eval "$TOOL_CALL"
'''


def audit_command(agentctl):
    """`agentctl audit` where this agentctl has it, else `agentctl show`."""
    help_text = subprocess.run([agentctl, "--help"], capture_output=True, text=True).stdout
    return "audit" if "\n  audit " in help_text else "show"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("calls", nargs="*", help="tool calls (shell commands); default: a built-in few")
    p.add_argument("--template", default="triage")
    p.add_argument("--audience", default="mcp://tools.example")
    p.add_argument("--on-behalf-of", default="alice@example.com")
    p.add_argument("--ttl", default="2m")
    p.add_argument("--agentctl", default=shutil.which("agentctl") or "/usr/bin/agentctl")
    p.add_argument("--socket", default=None)
    args = p.parse_args()

    client = agentid.Client(socket=args.socket, timeout=10)
    story = audit_command(args.agentctl)
    calls = args.calls or TOOL_CALLS
    failures = 0
    for k, call in enumerate(calls, 1):
        print(f"=== tool call {k}/{len(calls)}: {call}", flush=True)
        try:
            r = client.run(["sh", "-c", IN_TASK], template=args.template, ttl=args.ttl,
                           reason=f"tool call {k}: {call}"[:200], on_behalf_of=args.on_behalf_of,
                           env={"TOOL_CALL": call, "MCP_AUDIENCE": args.audience, "AGENTCTL": args.agentctl},
                           stdin=agentid.DEVNULL, stdout=agentid.PIPE, stderr=agentid.PIPE, timeout=60)
        except agentid.BrokerError as e:
            print(f"refused: {e}")
            failures += 1
            continue
        print(f"agent:  {r.agent} (uid {r.identity.uid}), {r.ended}, exit status {r.returncode}, "
              f"torn down in {r.teardown_usec} us")
        for name, data in (("stdout", r.stdout), ("stderr", r.stderr)):
            for line in data.decode(errors="replace").splitlines():
                print(f"{name}: {line}")
        # The call is over: its identity is revoked, and so is its token.
        print(f"--- agentctl {story} {r.agent}", flush=True)
        env = dict(os.environ, **({"AGENTID_SOCKET": client.socket}))
        subprocess.run([args.agentctl, story, r.agent], env=env, check=False)
        failures += r.returncode != 0
    print(f"=== {len(calls)} tool calls, {failures} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
