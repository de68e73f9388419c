# SPDX-License-Identifier: MIT
"""Typed results: one dataclass per reply shape of docs/protocol.md.

Replies are read field by field: a field the broker did not send gets its
default (None, or empty), a field of the wrong type is a ProtocolViolation,
and fields a newer broker adds are ignored, so an old client keeps working.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import ProtocolViolation


def _check(value: Any, hint: Any, where: str) -> Any:
    """value, converted to hint (dataclasses, lists of them), or raise."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        return _check(value, next(a for a in args if a is not type(None)), where)
    if origin in (list, List):
        if not isinstance(value, list):
            raise ProtocolViolation(f"{where}: expected a list, got {type(value).__name__}")
        return [_check(v, args[0], f"{where}[{k}]") for k, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ProtocolViolation(f"{where}: expected an object, got {type(value).__name__}")
        return value
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value, where)
    if hint is Any:
        return value
    ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    if not ok:
        raise ProtocolViolation(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    return value


def from_json(cls: type, obj: Any, where: Optional[str] = None) -> Any:
    """An instance of dataclass cls from a reply object."""
    where = where or cls.__name__
    if not isinstance(obj, dict):
        raise ProtocolViolation(f"{where}: expected an object, got {type(obj).__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in obj:
            continue
        kwargs[f.name] = _check(obj[f.name], hints[f.name], f"{where}.{f.name}")
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise ProtocolViolation(f"{where}: {e}") from None


@dataclass(frozen=True)
class DelegationLink:
    """One link of an agent's delegation chain (Show), nearest first."""
    sub: str
    kind: str
    uid: Optional[int] = None


@dataclass(frozen=True)
class Identity:
    """An agent identity (Mint, Show, List, and Run's start)."""
    name: str
    uid: int
    gid: Optional[int] = None
    owner: Optional[str] = None
    owner_uid: Optional[int] = None
    invoker_pid: Optional[int] = None
    template: Optional[str] = None
    state: Optional[str] = None
    reason: Optional[str] = None
    on_behalf_of: Optional[str] = None
    parent: Optional[str] = None
    home: Optional[str] = None
    shell: Optional[str] = None
    groups: List[str] = field(default_factory=list)
    created_at: Optional[str] = None
    expires_at: Optional[str] = None
    created_usec: Optional[int] = None
    expires_usec: Optional[int] = None
    ended_at: Optional[str] = None
    end_reason: Optional[str] = None
    delegation: Optional[List[DelegationLink]] = None


@dataclass(frozen=True)
class RevokeResult:
    """Revoke: the names revoked (at most 1000 listed) and how many."""
    revoked: List[str]
    count: int


@dataclass(frozen=True)
class TemplateInfo:
    """A loaded template, as Status describes it."""
    name: str
    description: Optional[str] = None
    ttl: Optional[str] = None
    max_ttl: Optional[str] = None
    groups: List[str] = field(default_factory=list)
    scopes: List[str] = field(default_factory=list)
    sudo: Optional[str] = None
    ssh: Optional[str] = None
    home: Optional[str] = None
    shell: Optional[str] = None
    source: Optional[str] = None


@dataclass(frozen=True)
class Caller:
    """Who the broker says the caller is (by its peer credentials)."""
    uid: int
    admin: bool


@dataclass(frozen=True)
class Status:
    """The broker's status."""
    version: str
    pid: int
    caller: Caller
    started_at: Optional[str] = None
    uptime_usec: Optional[int] = None
    live_agents: Optional[int] = None
    uid_min: Optional[int] = None
    uid_max: Optional[int] = None
    name_prefix: Optional[str] = None
    templates: List[TemplateInfo] = field(default_factory=list)
    connections: Optional[int] = None
    journal: Optional[bool] = None
    exec_trail: Optional[bool] = None
    #: How tasks run: "systemd" or "direct", and what the runtime can use.
    runtime: Optional[str] = None
    runtime_cgroup_controllers: List[str] = field(default_factory=list)
    #: direct runtime only: the kernel's Landlock ABI (0: none), seccomp.
    runtime_landlock_abi: Optional[int] = None
    runtime_seccomp: Optional[bool] = None


@dataclass(frozen=True)
class Token:
    """IssueToken: a signed token for the calling agent."""
    token: str
    jti: str
    kid: str
    audience: str
    expires_at: str
    exp: int

    def __str__(self) -> str:
        return self.token


@dataclass(frozen=True)
class Grant:
    """IssueGrant: a one-time grant for the calling agent."""
    grant: str
    jti: str
    kid: str
    audience: str
    expires_at: str
    exp: int

    def __str__(self) -> str:
        return self.grant


@dataclass(frozen=True)
class Verification:
    """VerifyToken and RedeemGrant: whose credential it is. ``claims`` is the
    token's JWT claim set as signed (a JSON object: its keys are the token's)."""
    valid: bool
    agent: str
    uid: int
    expires_at: Optional[str] = None
    claims: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepUpRequest:
    """A step-up request waiting for an approver (StepUpList)."""
    id: str
    agent: str
    uid: Optional[int] = None
    owner: Optional[str] = None
    owner_uid: Optional[int] = None
    template: Optional[str] = None
    service: Optional[str] = None
    command: Optional[str] = None
    tty: Optional[str] = None
    rhost: Optional[str] = None
    reason: Optional[str] = None
    state: Optional[str] = None
    created_at: Optional[str] = None
    expires_at: Optional[str] = None
    created_usec: Optional[int] = None
    expires_usec: Optional[int] = None
    age_usec: Optional[int] = None


@dataclass(frozen=True)
class Decision:
    """StepUpDecide: ``decision`` is "approved" or "denied"."""
    id: str
    decision: str
    agent: Optional[str] = None


@dataclass(frozen=True)
class AuditEvent:
    """One event of the audit trail, in chain order (docs/audit.md)."""
    seq: int
    event: str
    time: Optional[str] = None
    time_usec: Optional[int] = None
    agent: Optional[str] = None
    uid: Optional[int] = None
    owner_uid: Optional[int] = None
    template: Optional[str] = None
    reason: Optional[str] = None
    caller_uid: Optional[int] = None
    caller_pid: Optional[int] = None
    detail: Optional[str] = None
    prev_hash: Optional[str] = None
    hash: Optional[str] = None


@dataclass(frozen=True)
class AuditTip:
    """The chain's last event when the trail was read."""
    seq: int
    hash: Optional[str] = None


@dataclass(frozen=True)
class AuditTrail:
    """Audit: the events asked for (every page), the chain's tip, and for
    one agent its identity (with its delegation)."""
    events: List[AuditEvent]
    tip: Optional[AuditTip] = None
    identity: Optional[Identity] = None


@dataclass(frozen=True)
class RunResult:
    """How a task run by ``Client.run`` ended.

    ``ended`` is "exited", "expired", "revoked", "invoker-gone" or
    "shutdown"; ``exit_status`` is set when the task's leader exited,
    ``signal`` when a signal killed it. ``stdout``/``stderr`` hold what the
    task wrote when PIPE was asked for."""
    agent: str
    ended: str
    exit_status: Optional[int] = None
    signal: Optional[int] = None
    teardown_usec: Optional[int] = None
    pid: Optional[int] = None
    identity: Optional[Identity] = None
    stdout: Optional[bytes] = None
    stderr: Optional[bytes] = None

    @property
    def returncode(self) -> int:
        """As subprocess: the exit status, or -N when signal N killed the
        task; for a task ended without either, -9 (its processes were
        killed)."""
        if self.exit_status is not None:
            return self.exit_status
        if self.signal is not None:
            return -self.signal
        return -9

    @property
    def ok(self) -> bool:
        return self.ended == "exited" and self.exit_status == 0


# Fields of the replies to Run, read with from_json too.
@dataclass(frozen=True)
class _RunStarted:
    agent: Identity
    pid: int


@dataclass(frozen=True)
class _RunEnded:
    ended: str
    agent: str
    exit_status: Optional[int] = None
    signal: Optional[int] = None
    teardown_usec: Optional[int] = None


@dataclass(frozen=True)
class _ListPage:
    agents: List[Identity]
    next: Optional[int] = None


@dataclass(frozen=True)
class _AuditPage:
    events: List[AuditEvent]
    next: Optional[int] = None
    tip: Optional[AuditTip] = None
    identity: Optional[Identity] = None


@dataclass(frozen=True)
class _StepUpList:
    requests: List[StepUpRequest]
