# SPDX-License-Identifier: MIT
"""agentid.Client: every method of the broker's protocol, typed."""
from __future__ import annotations

import datetime
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _protocol, _run, _wire
from .errors import ProtocolViolation
from .results import (AuditTrail, Decision, Grant, Identity, RevokeResult, RunResult, Status, StepUpRequest,
                      Token, Verification, _AuditPage, _ListPage, _StepUpList, from_json)

Duration = Union[str, int, datetime.timedelta]
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def _duration(value: Duration, name: str) -> Union[str, int]:
    """A duration as the broker takes it: "90s", "5m", "1h30m" or whole seconds."""
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise ValueError(f"{name}: the broker takes whole seconds, not {value}")
        return int(seconds)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{name}: expected a duration string, seconds or a timedelta")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected str, got {type(value).__name__}")
    return value


def _put(params: Dict[str, Any], **kwargs: Any) -> Dict[str, Any]:
    """params with the given keys that are not None (the broker's defaults
    apply to the others: nothing is sent that the caller did not ask for)."""
    for k, v in kwargs.items():
        if v is not None:
            params[k] = v
    return params


class Client:
    """A client of the agentid broker.

    ``socket``: the broker's Unix socket (default: $AGENTID_SOCKET, else
    /run/agentid/agentid.sock). ``timeout``: seconds every call may take,
    from connecting to the reply (for ``run``: until the task has started;
    the task itself is bounded by its TTL and run's own ``timeout``).

    Each call uses a connection of its own, so one Client may be shared by
    threads and asyncio tasks. The broker decides everything by the
    caller's kernel credentials (SO_PEERCRED): what a Client may do depends
    on the uid of the process it runs in.
    """

    def __init__(self, socket: Optional[PathLike] = None, timeout: Optional[float] = 30.0) -> None:
        self.socket = _wire.socket_path(os.fsdecode(socket) if socket is not None else None)
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive (or None: no limit)")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"agentid.Client(socket={self.socket!r}, timeout={self.timeout!r})"

    def call(self, method: str, parameters: Optional[Mapping[str, Any]] = None,
             timeout: Optional[float] = None) -> Dict[str, Any]:
        """Low level: send one request by its wire name, return the reply's
        parameters as decoded JSON. Errors are raised as their classes. The
        typed methods below are the API; this is for methods newer than
        this client."""
        return _wire.call(self.socket, method, dict(parameters or {}),
                          self.timeout if timeout is None else timeout)

    # --- identities --------------------------------------------------------------
    def mint(self, template: Optional[str] = None, ttl: Optional[Duration] = None,
             reason: Optional[str] = None, on_behalf_of: Optional[str] = None) -> Identity:
        """Mint a new agent identity (root and the template's invokers; a
        live agent mints a sub-agent)."""
        params = _put({}, template=template, ttl=None if ttl is None else _duration(ttl, "ttl"),
                      reason=reason, on_behalf_of=on_behalf_of)
        return from_json(Identity, self.call(_protocol.METHOD_MINT, params), "Mint")

    def list(self, all: bool = False, owner: Optional[int] = None) -> List[Identity]:
        """Agents the caller may see: live ones, or with all=True ended
        ones too; every page, in uid order."""
        agents: List[Identity] = []
        after = 0
        while True:
            params = _put({"all": bool(all), "after": after}, owner=owner)
            page = from_json(_ListPage, self.call(_protocol.METHOD_LIST, params), "List")
            agents += page.agents
            if page.next is None:
                return agents
            if page.next <= after:
                raise ProtocolViolation("List: the next cursor does not advance")
            after = page.next

    def show(self, agent: Union[str, int]) -> Identity:
        """One agent, by name or uid (the owner and admins)."""
        params = {"uid": agent} if isinstance(agent, int) and not isinstance(agent, bool) else \
            {"agent": _text(agent, "agent")}
        return from_json(Identity, self.call(_protocol.METHOD_SHOW, params), "Show")

    def revoke(self, *agents: Union[str, int], owner: Optional[Union[str, int]] = None, all: bool = False,
               reason: Optional[str] = None) -> RevokeResult:
        """Revoke the named agents (all or none), or every live agent of
        ``owner``, or ``all=True`` every live agent. Give exactly one."""
        chosen = sum((bool(agents), owner is not None, bool(all)))
        if chosen != 1:
            raise ValueError("revoke: give agents, owner= or all=True (exactly one)")
        if agents:
            params: Dict[str, Any] = {"agents": list(agents)}
        elif owner is not None:
            params = {"owner": owner}
        else:
            params = {"all": True}
        _put(params, reason=reason)
        return from_json(RevokeResult, self.call(_protocol.METHOD_REVOKE, params), "Revoke")

    def status(self) -> Status:
        """The broker's version, templates, counts, and who the caller is."""
        return from_json(Status, self.call(_protocol.METHOD_STATUS), "Status")

    def audit(self, agent: Optional[str] = None, owner: Optional[int] = None, event: Optional[str] = None,
              since_usec: Optional[int] = None, until_usec: Optional[int] = None) -> AuditTrail:
        """The audit trail in chain order, every page: one agent's story
        (its events and its sub-agents' mints, with its identity), an
        owner's agents, or everything the caller may see."""
        events: List[Any] = []
        after = 0
        while True:
            params = _put({}, agent=agent, owner=owner, event=event, since_usec=since_usec, until_usec=until_usec)
            if after:
                params["after"] = after
            page = from_json(_AuditPage, self.call(_protocol.METHOD_AUDIT, params), "Audit")
            events += page.events
            if page.next is None:
                return AuditTrail(events=events, tip=page.tip, identity=page.identity)
            if page.next <= after:
                raise ProtocolViolation("Audit: the next cursor does not advance")
            after = page.next

    # --- credentials -----------------------------------------------------------------
    def token(self, audience: Optional[str] = None, ttl: Optional[Duration] = None,
              scopes: Optional[Sequence[str]] = None) -> Token:
        """A signed token for the calling agent: only a process running as a
        live agent's uid gets one, for that agent."""
        params = _put({}, audience=audience, ttl=None if ttl is None else _duration(ttl, "ttl"),
                      scopes=None if scopes is None else [_text(s, "scope") for s in scopes])
        return from_json(Token, self.call(_protocol.METHOD_ISSUE_TOKEN, params), "IssueToken")

    def grant(self, audience: Optional[str] = None, ttl: Optional[Duration] = None,
              scopes: Optional[Sequence[str]] = None) -> Grant:
        """A one-time grant for the calling agent (as token())."""
        params = _put({}, audience=audience, ttl=None if ttl is None else _duration(ttl, "ttl"),
                      scopes=None if scopes is None else [_text(s, "scope") for s in scopes])
        return from_json(Grant, self.call(_protocol.METHOD_ISSUE_GRANT, params), "IssueGrant")

    def verify(self, token: Union[str, Token], audience: Optional[str] = None) -> Verification:
        """Check a token: signature, claims, audience, agent still live."""
        params = _put({"token": str(token) if isinstance(token, Token) else _text(token, "token")},
                      audience=audience)
        return from_json(Verification, self.call(_protocol.METHOD_VERIFY_TOKEN, params), "VerifyToken")

    def redeem(self, grant: Union[str, Grant], audience: Optional[str] = None) -> Verification:
        """Use a one-time grant; a second use raises GrantUsed."""
        params = _put({"grant": str(grant) if isinstance(grant, Grant) else _text(grant, "grant")},
                      audience=audience)
        return from_json(Verification, self.call(_protocol.METHOD_REDEEM_GRANT, params), "RedeemGrant")

    # --- step-up approvals --------------------------------------------------------------
    def pending(self) -> List[StepUpRequest]:
        """Step-up requests waiting for the caller to decide (approvers)."""
        return from_json(_StepUpList, self.call(_protocol.METHOD_STEP_UP_LIST), "StepUpList").requests

    def approve(self, id: str, reason: Optional[str] = None) -> Decision:
        """Allow one use of a held step-up request."""
        return self._decide(id, "approve", reason)

    def deny(self, id: str, reason: Optional[str] = None) -> Decision:
        """Refuse a held step-up request."""
        return self._decide(id, "deny", reason)

    def _decide(self, id: str, decision: str, reason: Optional[str]) -> Decision:
        params = _put({"id": _text(id, "id"), "decision": decision}, reason=reason)
        return from_json(Decision, self.call(_protocol.METHOD_STEP_UP_DECIDE, params), "StepUpDecide")

    # --- tasks ------------------------------------------------------------------------------
    def _run_session(self, argv: Sequence[Any], template: Optional[str], ttl: Optional[Duration],
                     reason: Optional[str], on_behalf_of: Optional[str], env: Optional[Mapping[str, str]],
                     cwd: Optional[PathLike], stdin: Any, stdout: Any, stderr: Any, input: Optional[bytes],
                     on_start: Optional[Callable[[_run.RunningTask], Any]],
                     timeout: Optional[float]) -> _run._RunSession:
        if isinstance(argv, (str, bytes)) or not isinstance(argv, Iterable):
            raise TypeError("argv: expected a list of arguments, e.g. ['sh', '-c', 'echo hi']")
        args = [os.fsdecode(a) for a in argv]
        if not args:
            raise ValueError("argv: no command given")
        params: Dict[str, Any] = {"argv": args}
        if env:
            params["env"] = {_text(k, "env name"): _text(v, f"env {k}") for k, v in env.items()}
        _put(params, template=template, ttl=None if ttl is None else _duration(ttl, "ttl"), reason=reason,
             on_behalf_of=on_behalf_of, cwd=None if cwd is None else os.fsdecode(cwd))
        if input is not None and not isinstance(input, (bytes, bytearray, memoryview)):
            raise TypeError("input: expected bytes")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive (or None)")
        return _run._RunSession(self.socket, params, stdin, stdout, stderr,
                                None if input is None else bytes(input), on_start, self.timeout, timeout)

    def run(self, argv: Sequence[Any], *, template: Optional[str] = None, ttl: Optional[Duration] = None,
            reason: Optional[str] = None, on_behalf_of: Optional[str] = None,
            env: Optional[Mapping[str, str]] = None, cwd: Optional[PathLike] = None, stdin: Any = None,
            stdout: Any = None, stderr: Any = None, input: Optional[bytes] = None,
            timeout: Optional[float] = None, forward_signals: bool = True,
            on_start: Optional[Callable[[_run.RunningTask], Any]] = None) -> RunResult:
        """Run argv as a fresh agent minted from ``template`` and wait for it
        to end; the identity is revoked and everything of it is gone when
        this returns.

        stdin/stdout/stderr: None (this process's own), a file descriptor,
        a file object, ``agentid.DEVNULL``, or ``agentid.PIPE`` (stdout and
        stderr are then captured into the result; stdin is fed ``input``).
        They are passed to the broker like ``agentctl run`` passes its own.

        ``timeout`` bounds the whole task (None: until it ends, at the
        latest at its TTL): past it the connection is closed, so the broker
        ends the task, and Timeout is raised. ``forward_signals``: while
        the task runs, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2
        and SIGWINCH sent to this process go to the task instead (only when
        called in the main thread). ``on_start(task)`` is called once the
        task runs; ``task.send_signal(sig)`` signals it.

        If this process dies or the call is interrupted by an exception,
        the connection closes and the broker ends the task.
        """
        session = self._run_session(argv, template, ttl, reason, on_behalf_of, env, cwd, stdin, stdout,
                                    stderr, input, on_start, timeout)
        return _run.run_sync(session, forward_signals)

    async def run_async(self, argv: Sequence[Any], *, template: Optional[str] = None,
                        ttl: Optional[Duration] = None, reason: Optional[str] = None,
                        on_behalf_of: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
                        cwd: Optional[PathLike] = None, stdin: Any = None, stdout: Any = None,
                        stderr: Any = None, input: Optional[bytes] = None, timeout: Optional[float] = None,
                        on_start: Optional[Callable[[_run.RunningTask], Any]] = None) -> RunResult:
        """run() for asyncio: many tasks at once on one event loop. Signals
        are not forwarded (use ``on_start`` and ``task.send_signal``).
        Cancelling the coroutine (asyncio.wait_for, TaskGroup) closes the
        connection, and the broker ends the task."""
        session = self._run_session(argv, template, ttl, reason, on_behalf_of, env, cwd, stdin, stdout,
                                    stderr, input, on_start, timeout)
        return await _run.run_async(session)
