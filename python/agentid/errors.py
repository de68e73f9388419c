# SPDX-License-Identifier: MIT
"""Exceptions: one class per error the broker replies with, plus the
failures of reaching it at all.

The broker's error names come from the C headers (see _protocol.ERRORS);
``ERROR_CLASSES`` maps each wire name to its class, and the drift test
checks that every name in the headers has one.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from . import _protocol


class AgentidError(Exception):
    """Anything this package raises on purpose."""


class ConnectionFailed(AgentidError, OSError):
    """The broker could not be reached (no socket, refused, not running)."""


class Timeout(AgentidError, TimeoutError):
    """A call did not complete within its timeout. For ``run``, the task was
    ended (the connection that controls it was closed)."""


class ConnectionLost(AgentidError, ConnectionError):
    """The broker closed the connection before replying. For ``run`` after
    the task started, the broker ends the task when it loses its invoker."""


class ProtocolViolation(AgentidError):
    """The broker sent something that is not a valid reply (not JSON, too
    large, duplicate keys, wrong shape)."""


class BrokerError(AgentidError):
    """The broker refused the request. ``error`` is the wire name
    (``io.agentid.PermissionDenied``), ``message`` the broker's one-line
    explanation, ``parameters`` the whole error reply."""

    wire_name: Optional[str] = None

    def __init__(self, message: str, error: Optional[str] = None,
                 parameters: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error or self.wire_name or ""
        self.parameters = dict(parameters or {})

    def __str__(self) -> str:
        return f"{self.message} ({self.error})"


# One class per error of docs/protocol.md, named as on the wire.


class InvalidRequest(BrokerError):
    """Not a valid request (not JSON, wrong shape, bad method name)."""
    wire_name = _protocol.ERROR_INVALID_REQUEST


class MessageTooLarge(BrokerError):
    """The request exceeded the size limit (REQUEST_MAX)."""
    wire_name = _protocol.ERROR_MESSAGE_TOO_LARGE


class MethodNotFound(BrokerError):
    """No such method."""
    wire_name = _protocol.ERROR_METHOD_NOT_FOUND


class InvalidParameter(BrokerError):
    """A parameter is unknown, missing, of the wrong type or out of range."""
    wire_name = _protocol.ERROR_INVALID_PARAMETER


class PermissionDenied(BrokerError):
    """Policy refuses this caller this request (recorded as a deny event)."""
    wire_name = _protocol.ERROR_PERMISSION_DENIED


class NoSuchAgent(BrokerError):
    """No (live) agent by that name or uid."""
    wire_name = _protocol.ERROR_NO_SUCH_AGENT


class NoSuchTemplate(BrokerError):
    """No loaded template by that name."""
    wire_name = _protocol.ERROR_NO_SUCH_TEMPLATE


class RangeExhausted(BrokerError):
    """No free uid in the configured range."""
    wire_name = _protocol.ERROR_RANGE_EXHAUSTED


class AuditFailed(BrokerError):
    """The change could not be recorded, so it was not made."""
    wire_name = _protocol.ERROR_AUDIT_FAILED


class InternalError(BrokerError):
    """The broker failed; nothing was changed."""
    wire_name = _protocol.ERROR_INTERNAL


class TooManyConnections(BrokerError):
    """The broker's connection limit is reached."""
    wire_name = _protocol.ERROR_TOO_MANY_CONNECTIONS


class TooManyRequests(BrokerError):
    """The caller's uid is over its request share (request_rate); the request
    was not handled: retry later."""
    wire_name = _protocol.ERROR_TOO_MANY_REQUESTS


class TaskFailed(BrokerError):
    """Run: the command could not be started; the identity is revoked."""
    wire_name = _protocol.ERROR_TASK_FAILED


class InvalidToken(BrokerError):
    """Not a token or grant this broker issued and signed, or malformed."""
    wire_name = _protocol.ERROR_INVALID_TOKEN


class TokenExpired(BrokerError):
    """Past its exp, or not yet valid."""
    wire_name = _protocol.ERROR_TOKEN_EXPIRED


class AudienceMismatch(BrokerError):
    """Not for the audience asked for."""
    wire_name = _protocol.ERROR_AUDIENCE_MISMATCH


class TokenRevoked(BrokerError):
    """Its agent was revoked or has expired."""
    wire_name = _protocol.ERROR_TOKEN_REVOKED


class GrantUsed(BrokerError):
    """The one-time grant was already redeemed."""
    wire_name = _protocol.ERROR_GRANT_USED


class NoSuchRequest(BrokerError):
    """No such step-up request, not pending, or not this connection's."""
    wire_name = _protocol.ERROR_NO_SUCH_REQUEST


#: Wire error name -> exception class, for every error in the headers.
ERROR_CLASSES = {cls.wire_name: cls for cls in BrokerError.__subclasses__()}


def from_reply(error: str, parameters: Mapping[str, Any]) -> BrokerError:
    """The exception for an error reply; unknown names (a newer broker) give
    a plain BrokerError that still carries the name and message."""
    message = parameters.get("message")
    if not isinstance(message, str):
        message = "request failed"
    cls = ERROR_CLASSES.get(error, BrokerError)
    return cls(message, error, parameters)
