# SPDX-License-Identifier: MIT
"""agentid: the Python client of the agentid broker.

    import agentid
    client = agentid.Client()                   # $AGENTID_SOCKET or /run/agentid/agentid.sock
    result = client.run(["sh", "-c", "id -un"], template="triage", ttl="5m",
                        reason="ticket 4411", stdout=agentid.PIPE)
    print(result.agent, result.exit_status, result.stdout)

Wire names and limits come from the C headers (agentid._protocol is
generated from include/agentid/*.h). See docs/protocol.md.
"""
from . import _protocol as protocol
from ._run import DEVNULL, FORWARDED_SIGNALS, PIPE, RunningTask
from .client import Client
from .errors import (ERROR_CLASSES, AgentidError, AudienceMismatch, AuditFailed, BrokerError, ConnectionFailed,
                     ConnectionLost, GrantUsed, InternalError, InvalidParameter, InvalidRequest, InvalidToken,
                     MessageTooLarge, MethodNotFound, NoSuchAgent, NoSuchRequest, NoSuchTemplate, PermissionDenied,
                     ProtocolViolation, RangeExhausted, TaskFailed, Timeout, TokenExpired, TokenRevoked,
                     TooManyConnections, TooManyRequests)
from .results import (AuditEvent, AuditTip, AuditTrail, Caller, Decision, DelegationLink, Grant, Identity, RevokeResult, RunResult, Status,
                      StepUpRequest, TemplateInfo, Token, Verification)

__version__ = "0.1.0"

__all__ = [
    "Client", "PIPE", "DEVNULL", "FORWARDED_SIGNALS", "RunningTask", "protocol",
    "Identity", "DelegationLink", "RevokeResult", "Status", "TemplateInfo", "Caller", "Token", "Grant",
    "Verification", "StepUpRequest", "Decision", "RunResult", "AuditEvent", "AuditTip", "AuditTrail",
    "AgentidError", "BrokerError", "ConnectionFailed", "ConnectionLost", "ProtocolViolation", "Timeout",
    "ERROR_CLASSES",
    # One class per broker error, named as on the wire (test_drift checks
    # that every error of the headers is here).
    "AudienceMismatch", "AuditFailed", "GrantUsed", "InternalError", "InvalidParameter", "InvalidRequest",
    "InvalidToken", "MessageTooLarge", "MethodNotFound", "NoSuchAgent", "NoSuchRequest", "NoSuchTemplate",
    "PermissionDenied", "RangeExhausted", "TaskFailed", "TokenExpired", "TokenRevoked", "TooManyConnections", "TooManyRequests",
]
