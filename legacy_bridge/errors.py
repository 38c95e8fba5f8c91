"""Every error the bridge raises derives from `BridgeError`.

The tree::

    BridgeError
    ├── ServiceError                 the Spring service could not give a usable answer
    │   ├── TransientServiceError    worth retrying: the service may be back in a moment
    │   │   ├── ServiceUnreachable   connection refused / reset, DNS failure, connect timeout
    │   │   ├── ServiceTimeout       the service accepted but answered too slowly (read timeout)
    │   │   ├── ServerError          a 5xx answer (with Spring's error body when it sent one)
    │   │   └── NotJsonResponse      an HTML page (from the proxy) or another non-JSON body
    │   ├── CircuitOpen              the breaker is open: no request was sent
    │   └── ClientRequestError       a 4xx answer; never retried (the request itself is wrong)
    │       ├── AuthenticationFailed 401: missing or wrong `X-Api-Key`
    │       └── CategoryNotFound     404 on a category's topics
    ├── BadPayload                   JSON that does not follow the contract (missing fields...)
    └── ResultsError                 the results side (outbox, database)
        └── UndecodableRecord        an outbox entry that can never be turned back into a game
"""
from __future__ import annotations


class BridgeError(Exception):
    """Root of every error raised by `legacy_bridge`."""


class ServiceError(BridgeError):
    """The Spring service did not give a usable answer."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class TransientServiceError(ServiceError):
    """A failure that may go away by itself; retried with backoff and counted by the breaker."""


class ServiceUnreachable(TransientServiceError):
    """No connection could be made (refused, reset, DNS, connect timeout)."""


class ServiceTimeout(TransientServiceError):
    """The service took longer than the read timeout to answer."""


class ServerError(TransientServiceError):
    """A 5xx answer. `spring_error` holds Spring's error body when there was one."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None,
                 spring_error: dict | None = None) -> None:
        super().__init__(message, url=url, status=status)
        self.spring_error = spring_error


class NotJsonResponse(TransientServiceError):
    """The body was not JSON (typically an HTML error page from the proxy)."""


class CircuitOpen(ServiceError):
    """The circuit breaker is open; the request was not sent."""


class ClientRequestError(ServiceError):
    """A 4xx answer. Never retried and never counted against the service's health."""


class AuthenticationFailed(ClientRequestError):
    """401: the API key is missing or wrong. Fix `LEGACY_API_KEY`; retrying will not help."""


class CategoryNotFound(ClientRequestError):
    """404 for a category's topics: the category was removed between two requests."""


class BadPayload(BridgeError):
    """JSON that does not follow the documented contract."""


class ResultsError(BridgeError):
    """An error on the results side (outbox or results database)."""


class UndecodableRecord(ResultsError):
    """An outbox entry that cannot be decoded into a `FinishedGame` (kept aside, never dropped)."""
