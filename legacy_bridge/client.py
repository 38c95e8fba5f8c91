"""An httpx client for the Spring service's topic API (`docs/legacy-spring-api.md`).

It sends `X-Api-Key`, follows every page until `last`, revalidates each page with
`If-None-Match` (a `304` reuses the cached page), retries refused connections, timeouts, 5xx and
non-JSON bodies with exponential backoff and jitter (never 4xx), and stops calling while its
circuit breaker is open.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import structlog

from . import metrics
from .breaker import BreakerState, CircuitBreaker
from .errors import (
    AuthenticationFailed, BadPayload, CategoryNotFound, CircuitOpen, ClientRequestError,
    NotJsonResponse, ServerError, ServiceTimeout, ServiceUnreachable, TransientServiceError,
)
from .retry import RetryPolicy, backoff_delays
from .schemas import CategoryItem, TopicItem, parse_category, parse_page, parse_topic

log = structlog.get_logger("legacy_bridge.client")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """Items of every page; `changed` is False when every page answered `304 Not Modified`."""

    items: list[T]
    changed: bool


class TopicsClient:
    """Reads categories and topics from the Spring service."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        categories_page_size: int = 20,
        topics_page_size: int = 50,
        max_pages: int = 200,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._clock = clock
        self._sleep = sleep
        self._categories_page_size = categories_page_size
        self._topics_page_size = topics_page_size
        self._max_pages = max_pages
        # url (with query) -> (etag, parsed JSON body) of the last 200 answer
        self._etags: dict[str, tuple[str, Any]] = {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"X-Api-Key": api_key, "Accept": "application/json"},
            timeout=httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s,
                                  write=read_timeout_s, pool=connect_timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> TopicsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def breaker_state(self) -> BreakerState:
        return self.breaker.state(self._clock())

    async def categories(self) -> Fetched[CategoryItem]:
        """Every category on every page (active or not: the caller filters)."""
        fetched = await self._all_pages("/api/v1/categories", self._categories_page_size)
        return Fetched([parse_category(i) for i in fetched.items], fetched.changed)

    async def topics(self, category_id: int) -> Fetched[TopicItem]:
        """Every topic of one category on every page. Raises `CategoryNotFound` on 404."""
        fetched = await self._all_pages(f"/api/v1/categories/{int(category_id)}/topics",
                                        self._topics_page_size)
        return Fetched([parse_topic(i) for i in fetched.items], fetched.changed)

    async def _all_pages(self, path: str, size: int) -> Fetched[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        changed = False
        for page_no in range(self._max_pages):
            body, page_changed = await self._get_json(path, {"page": page_no, "size": size})
            page = parse_page(body, f"GET {path}?page={page_no}")
            items.extend(page.content)
            changed = changed or page_changed
            if page.last:
                return Fetched(items, changed)
            if page.total_pages is not None and page_no + 1 >= page.total_pages:
                return Fetched(items, changed)  # a careful client: never loop past totalPages
        raise BadPayload(f"GET {path}: no page marked last within {self._max_pages} pages")

    async def _get_json(self, path: str, params: dict[str, int]) -> tuple[Any, bool]:
        """One GET with retries; returns (JSON body, changed?)."""
        delays = backoff_delays(self.retry)
        for attempt in range(len(delays) + 1):
            try:
                return await self._attempt(path, params)
            except TransientServiceError as e:
                if attempt >= len(delays):
                    raise
                log.info("spring_retry", path=path, attempt=attempt + 1, error=str(e),
                         wait_s=round(delays[attempt], 3))
                await self._sleep(delays[attempt])
        raise AssertionError("unreachable")

    async def _attempt(self, path: str, params: dict[str, int]) -> tuple[Any, bool]:
        url = f"{path}?page={params['page']}&size={params['size']}"
        now = self._clock()
        if not self.breaker.allow(now):
            metrics.SPRING_REQUESTS.labels("circuit_open").inc()
            raise CircuitOpen(
                f"circuit open after repeated failures of {self.base_url}; next try in "
                f"{self.breaker.retry_in_s(now):.1f}s", url=url)
        cached = self._etags.get(url)
        headers = {"If-None-Match": cached[0]} if cached else {}
        try:
            try:
                response = await self._http.get(path, params=params, headers=headers)
            except httpx.TimeoutException as e:
                unreachable = isinstance(e, (httpx.ConnectTimeout, httpx.PoolTimeout))
                outcome = "refused" if unreachable else "timeout"
                metrics.SPRING_REQUESTS.labels(outcome).inc()
                cls = ServiceUnreachable if unreachable else ServiceTimeout
                raise cls(f"GET {url}: {type(e).__name__} ({'connect' if unreachable else 'read'}"
                          " timeout)", url=url) from e
            except httpx.TransportError as e:
                metrics.SPRING_REQUESTS.labels("refused").inc()
                raise ServiceUnreachable(f"GET {url}: cannot reach {self.base_url}: "
                                         f"{type(e).__name__}: {e}", url=url) from e
            result = self._interpret(url, response, cached)
        except TransientServiceError:
            self.breaker.record_failure(self._clock())
            raise
        except ClientRequestError:
            self.breaker.record_success(self._clock())  # the service is up; our request is wrong
            raise
        except BaseException:
            self.breaker.abandon()
            raise
        self.breaker.record_success(self._clock())
        return result

    def _interpret(self, url: str, response: httpx.Response,
                   cached: tuple[str, Any] | None) -> tuple[Any, bool]:
        status = response.status_code
        if status == 304:
            metrics.SPRING_REQUESTS.labels("not_modified").inc()
            if cached is None:
                raise BadPayload(f"GET {url}: 304 without a cached page")
            return cached[1], False
        if 200 <= status < 300:
            body = self._json_body(url, response)
            etag = response.headers.get("ETag")
            if etag:
                self._etags[url] = (etag, body)
            metrics.SPRING_REQUESTS.labels("ok").inc()
            return body, True
        spring_error = self._spring_error(response)
        if spring_error:
            detail = f" ({spring_error.get('error')})"
        elif not _is_json(response):
            ctype = response.headers.get("Content-Type", "none").split(";")[0]
            detail = f" with a non-JSON {ctype} body (proxy page?)"
        else:
            detail = ""
        if status >= 500:
            metrics.SPRING_REQUESTS.labels("5xx").inc()
            if spring_error is None and not _is_json(response):
                metrics.SPRING_REQUESTS.labels("not_json").inc()
            raise ServerError(f"GET {url}: server error {status}{detail}", url=url,
                              status=status, spring_error=spring_error)
        metrics.SPRING_REQUESTS.labels("4xx").inc()
        if status < 400:
            location = response.headers.get("Location", "?")
            raise ClientRequestError(f"GET {url}: unexpected redirect {status} to {location}",
                                     url=url, status=status)
        if status == 401:
            raise AuthenticationFailed(
                f"GET {url}: 401 Unauthorized: the Spring service rejected the API key "
                "(X-Api-Key); check LEGACY_API_KEY", url=url, status=status)
        if status == 404 and "/topics" in url:
            raise CategoryNotFound(f"GET {url}: 404 unknown category", url=url, status=status)
        raise ClientRequestError(f"GET {url}: client error {status}{detail}", url=url,
                                 status=status)

    @staticmethod
    def _json_body(url: str, response: httpx.Response) -> Any:
        if not _is_json(response):
            metrics.SPRING_REQUESTS.labels("not_json").inc()
            ctype = response.headers.get("Content-Type", "none")
            raise NotJsonResponse(f"GET {url}: expected JSON, got {ctype!r} "
                                  f"({response.text[:60]!r}...)", url=url,
                                  status=response.status_code)
        try:
            return response.json()
        except ValueError as e:
            metrics.SPRING_REQUESTS.labels("not_json").inc()
            raise NotJsonResponse(f"GET {url}: body is not valid JSON: {e}", url=url,
                                  status=response.status_code) from e

    @staticmethod
    def _spring_error(response: httpx.Response) -> dict | None:
        if not _is_json(response):
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) and "status" in body else None


def _is_json(response: httpx.Response) -> bool:
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")
