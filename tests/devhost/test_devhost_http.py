"""HTTP triggers served by a real devhost process (sample app, routePrefix "sample")."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devhost.http_server import MAX_REQUEST_LINE_BYTES
from tests.devhost.sample_host import FUNCTION_KEY, MASTER_KEY, SampleHost, start_sample_host, wait_until

FUNCTION_HEADERS = {"x-functions-key": FUNCTION_KEY}


def test_the_function_list_is_printed_with_urls_and_triggers(sample_host: SampleHost) -> None:
    output = sample_host.devhost.output()
    base = sample_host.devhost.base_url
    assert f"item: [GET,DELETE] {base}/sample/items/{{item_id:int}}" in output
    assert f"create_order: [POST] {base}/sample/orders" in output
    assert f"work: queueTrigger (queue: {sample_host.queues['WORK_QUEUE']})" in output


def test_route_parameters_query_and_headers_reach_the_function(sample_host: SampleHost) -> None:
    response = requests.get(
        sample_host.url("/sample/items/42?colour=red&tag=a&tag=b"),
        headers={**FUNCTION_HEADERS, "X-Sample": "yes"},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    echo = response.json()
    assert echo["method"] == "GET"
    assert echo["route_params"] == {"item_id": "42"}
    assert echo["params"] == {"colour": "red", "tag": "a,b"}
    assert echo["header"] == "yes"
    assert echo["url"].endswith("/sample/items/42?colour=red&tag=a&tag=b")


def test_text_response_gets_the_charset_and_custom_status_and_headers_pass_through(sample_host: SampleHost) -> None:
    hello = requests.get(sample_host.url("/sample/hello/ada"), timeout=10)
    deleted = requests.delete(sample_host.url("/sample/items/7"), headers=FUNCTION_HEADERS, timeout=10)

    assert (hello.status_code, hello.text) == (200, "hello ada")
    assert hello.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert deleted.status_code == 202
    assert deleted.headers["X-Deleted"] == "7"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/sample/files/a/b/c.txt", "path=a/b/c.txt"),  # catch-all keeps the slashes
        ("/sample/files", "path="),  # and may be empty
        ("/sample/pages/3", "page=3"),
        ("/sample/pages", "page=none"),  # optional parameter absent
    ],
)
def test_catch_all_and_optional_parameters(sample_host: SampleHost, path: str, expected: str) -> None:
    response = requests.get(sample_host.url(path), timeout=10)

    assert (response.status_code, response.text) == (200, expected)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/sample/hello/ada", 405),  # known route, other method
        ("GET", "/sample/nothing-here", 404),
        ("GET", "/api/hello/ada", 404),  # host.json routePrefix replaces the default "api"
        ("GET", "/hello/ada", 404),
        ("GET", "/sample/items/abc", 404),  # {item_id:int} does not match letters
    ],
)
def test_unroutable_requests(sample_host: SampleHost, method: str, path: str, status: int) -> None:
    response = requests.request(method, sample_host.url(path), headers=FUNCTION_HEADERS, timeout=10)

    assert response.status_code == status


def test_an_unhandled_exception_is_a_500_with_empty_body_and_a_logged_traceback(sample_host: SampleHost) -> None:
    response = requests.get(sample_host.url("/sample/boom"), timeout=10)

    assert response.status_code == 500
    assert response.content == b""
    output = sample_host.devhost.wait_for_output("RuntimeError: boom from the sample app")
    assert "Traceback" in output


def test_a_request_line_over_8_kib_gets_kestrels_414_with_an_empty_body(sample_host: SampleHost) -> None:
    fits = MAX_REQUEST_LINE_BYTES - len("GET /sample/hello/ HTTP/1.1\r\n")  # the line counts its CRLF

    longest = requests.get(sample_host.url("/sample/hello/" + "a" * fits), timeout=10)
    answers = [
        requests.get(sample_host.url("/sample/hello/" + "a" * length), timeout=10)
        for length in (fits + 1, 65_536, 100_000)  # 65,536 and more: past http.server's own limit
    ]
    # "POST" is one byte longer than "GET"; the unread body must not reset the connection before the answer is read.
    with_body = requests.post(sample_host.url("/sample/hello/" + "a" * fits), data=b"x" * 500_000, timeout=10)

    assert (longest.status_code, longest.text) == (200, "hello " + "a" * fits)
    for answer in [*answers, with_body]:
        assert answer.status_code == 414
        assert answer.content == b""
        assert answer.headers["Content-Length"] == "0"
        assert answer.headers["Connection"] == "close"


def test_async_handlers_run_and_overlap(sample_host: SampleHost) -> None:
    # Each call awaits 0.3 s; four in sequence would take 1.2 s.
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(
                lambda i: requests.post(sample_host.url("/sample/echo-async"), data=f"body-{i}".encode(), timeout=10),
                range(4),
            )
        )
    elapsed = time.monotonic() - started

    assert [(r.status_code, r.content) for r in responses] == [(201, f"body-{i}".encode()) for i in range(4)]
    assert responses[0].headers["Content-Type"] == "application/octet-stream"
    assert elapsed < 1.0


class TestKeysConfigured:
    @pytest.mark.parametrize(
        ("path", "headers", "status"),
        [
            ("/sample/items/1", {}, 401),
            ("/sample/items/1", {"x-functions-key": "wrong"}, 401),
            ("/sample/items/1?code=wrong", {}, 401),
            ("/sample/items/1", {"x-functions-key": FUNCTION_KEY}, 200),
            (f"/sample/items/1?code={FUNCTION_KEY}", {}, 200),
            ("/sample/items/1", {"x-functions-key": MASTER_KEY}, 200),  # the master key opens function routes
            ("/sample/ops/status", {"x-functions-key": FUNCTION_KEY}, 401),  # admin needs the master key
            (f"/sample/ops/status?code={MASTER_KEY}", {}, 200),
            ("/sample/hello/ada", {}, 200),  # anonymous
        ],
    )
    def test_auth_levels(self, sample_host: SampleHost, path: str, headers: dict, status: int) -> None:
        response = requests.get(sample_host.url(path), headers=headers, timeout=10)

        assert response.status_code == status

    def test_a_rejected_request_does_not_invoke_the_function(self, sample_host: SampleHost) -> None:
        calls_before = sample_host.devhost.output().count("Executing 'Functions.item'")
        hellos_before = sample_host.devhost.output().count("Executing 'Functions.hello'")

        response = requests.get(sample_host.url("/sample/items/5"), timeout=10)
        # A request after it that does run: its log line comes after any the rejected one would have written.
        marker = requests.get(sample_host.url("/sample/hello/ada"), timeout=10)
        deadline = time.monotonic() + 10
        while sample_host.devhost.output().count("Executing 'Functions.hello'") == hellos_before:
            assert time.monotonic() < deadline, "the request after the rejected one was not logged"
            time.sleep(0.05)

        assert response.status_code == 401 and marker.status_code == 200
        assert sample_host.devhost.output().count("Executing 'Functions.item'") == calls_before


@pytest.fixture(scope="module")
def keyless_host(azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleHost]:
    yield from start_sample_host(azurite, tmp_path_factory.mktemp("devhost-keyless"), keys=False)


@pytest.mark.parametrize("path", ["/sample/items/1", "/sample/ops/status"])
def test_without_keys_nothing_is_enforced_like_func_start(keyless_host: SampleHost, path: str) -> None:
    response = requests.get(keyless_host.url(path), timeout=10)

    assert response.status_code == 200


def test_queue_outputs_are_sent_base64_encoded_after_the_call(sample_host: SampleHost) -> None:
    response = requests.post(
        sample_host.url("/sample/orders"), json={"id": "o-17", "by": "ada"}, headers=FUNCTION_HEADERS, timeout=10
    )

    assert response.status_code == 202
    assert response.json() == {"queued": "o-17"}
    # A list output becomes one message per item, encoded as the host encodes (messageEncoding base64).
    audit = sample_host.queue(sample_host.queues["AUDIT_QUEUE"])
    raw = wait_until(lambda: [m.content for m in audit.peek_messages(max_messages=32)])
    assert raw == [base64.b64encode(b"created o-17").decode(), base64.b64encode(b"by ada").decode()]
    # The other output feeds the process_order trigger.
    processed = wait_until(lambda: sample_host.invocations("process_order", id="o-17"))
    assert processed[0]["dequeue_count"] == 1


def test_a_failed_call_sends_no_outputs(sample_host: SampleHost) -> None:
    # The function sets both outputs, then raises: the host writes outputs only after a successful call.
    response = requests.post(
        sample_host.url("/sample/orders"), json={"id": "o-fails", "explode": True}, headers=FUNCTION_HEADERS, timeout=10
    )

    assert response.status_code == 500
    audit = sample_host.queue(sample_host.queues["AUDIT_QUEUE"])
    sent = [base64.b64decode(m.content) for m in audit.peek_messages(max_messages=32)]
    assert b"created o-fails" not in sent
