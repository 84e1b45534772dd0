"""The campaign API over HTTP. Every failure is an `ApiError(code, message)`; none of them holds the key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

KEY_HEADER = "x-functions-key"
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status

    @property
    def transient(self) -> bool:
        """Worth trying again: the app could not be reached, or said it is busy or failing for now."""
        return self.status is None or self.status in TRANSIENT_STATUSES


class CampaignApi:
    def __init__(self, base_url: str, key: str | None, *, timeout: float = 30, retries: int = 2) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout
        self._retries = retries
        self._session = requests.Session()

    def create_campaign(self, settings: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/campaigns", json=settings).json()

    def add_recipients_csv(self, campaign_id: str, csv_text: str) -> dict[str, Any]:
        headers = {"Content-Type": "text/csv; charset=utf-8"}
        return self._request("POST", _path(campaign_id, "recipients"), data=csv_text.encode(), headers=headers).json()

    def summary(self, campaign_id: str) -> dict[str, Any]:
        return self._request("GET", _path(campaign_id)).json()

    def cancel(self, campaign_id: str) -> None:
        self._request("POST", _path(campaign_id, "cancel"))

    def download(self, campaign_id: str, name: str) -> bytes:
        """`calls.csv` (every page, joined) or `report.html`."""
        return b"".join(self.download_parts(campaign_id, name))

    def download_parts(self, campaign_id: str, name: str) -> Iterator[bytes]:
        """The download a part at a time: calls.csv comes in pages (each with the header row, which only the
        first part keeps), followed through their `Link: <...>; rel="next"` headers."""
        answer = self._request("GET", _path(campaign_id, name))
        first = True
        while True:
            content = answer.content
            if not first and name == "calls.csv":
                content = content.split(b"\r\n", 1)[1] if b"\r\n" in content else b""
            yield content
            first = False
            following = answer.links.get("next", {}).get("url")
            if not following:
                return
            # The app's Link holds a path on its own host; the key is sent again as a header, never in the URL.
            target = urljoin(answer.url, following)
            if _origin(target) != _origin(self.base_url):
                raise ApiError("BadLink", "the next page is on another host; not following it")
            answer = self._request("GET", target, absolute=True)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send, trying again (a little later) after a lost connection, 429 or 5xx: every call here is safe to
        repeat (a campaign id is always sent, recipients are added once, cancelling twice is cancelling)."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        url = path if kwargs.pop("absolute", False) else self.base_url + path
        if self._key:
            headers[KEY_HEADER] = self._key
        for attempt in range(self._retries + 1):
            try:
                answer = self._session.request(
                    method, url, headers=headers, timeout=self._timeout, **kwargs
                )
            except requests.RequestException as exc:
                error = ApiError("ConnectionError", f"could not reach {_origin(self.base_url)} ({type(exc).__name__})")
                delay = 1.0
            else:
                if answer.status_code < 400:
                    return answer
                error = _error_of(answer)
                delay = _retry_after(answer)
            if not error.transient or attempt == self._retries:
                raise error
            time.sleep(delay * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover


def _path(campaign_id: str, *rest: str) -> str:
    return "/campaigns/" + "/".join([quote(campaign_id, safe=""), *rest])


def _error_of(answer: requests.Response) -> ApiError:
    """The app's `{"code", "message"}`; for anything else (the host's bare 401, a proxy page) the HTTP status."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return ApiError(body["code"], str(body.get("message", "")), answer.status_code)
    hint = " (is the function key right? set CALLCTL_FUNCTION_KEY or --key)" if answer.status_code in (401, 403) else ""
    return ApiError(f"HTTP{answer.status_code}", (answer.reason or "request failed") + hint, answer.status_code)


def _retry_after(answer: requests.Response) -> float:
    try:
        return min(10.0, max(0.0, float(answer.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0


def _origin(url: str) -> str:
    """Scheme, host and port only: never a query string or user info that could hold a secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
