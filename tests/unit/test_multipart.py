"""shared.storage.multipart against azure-core's own `email`-based helpers: the same request bytes, the same parts
read from an answer (Azurite's answers to a transaction that succeeded and to one that failed, as recorded)."""

from __future__ import annotations

import email

import pytest
from azure.core.rest import HttpRequest
from azure.core.rest._http_response_impl import RestHttpClientTransportResponse
from azure.core.utils import _pipeline_transport_rest_shared as azure_shared

from shared.storage import multipart

BATCH, CHANGESET = "batch_7cf17c8c-6c3b-491f-b1f1-75454a791b9a", "changeset_1d3fc75a-a805-4194-a784-94248499de1b"
URL = "http://127.0.0.1:10002/devstoreaccount1/legs"


def _transaction(operations: int) -> HttpRequest:
    """A transaction as azure-data-tables builds it: a batch holding one changeset of `operations` requests."""
    parts = []
    for n in range(operations):
        part = HttpRequest("PATCH" if n % 2 else "POST", f"{URL}(PartitionKey='p',RowKey='r{n}')" if n % 2 else URL,
                           headers={"Content-Type": "application/json", "x-ms-version": "2019-02-02",
                                    "If-Match": 'W/"datetime\'2026-12-04T13%3A49%3A14.62Z\'"'},
                           content='{"PartitionKey": "p", "RowKey": "r' + str(n) + '", "text": "caf\\u00e9 -- 100%"}')
        parts.append(part)
    changeset = HttpRequest("POST", "")
    changeset.set_multipart_mixed(*parts, boundary=CHANGESET)
    request = HttpRequest("POST", URL.replace("/legs", "/$batch"), headers={"Accept": "application/json"})
    request.set_multipart_mixed(changeset, boundary=BATCH)
    return request


@pytest.mark.parametrize("operations", [1, 2, 7])
def test_a_transaction_body_is_byte_for_byte_azure_cores(operations):
    ours, theirs = _transaction(operations), _transaction(operations)

    assert multipart.prepare_multipart_body(ours) == azure_shared._prepare_multipart_body_helper(theirs) == operations

    assert ours.content == theirs.content
    assert ours.headers["Content-Type"] == theirs.headers["Content-Type"] == f"multipart/mixed; boundary={BATCH}"


def test_a_request_without_parts_is_left_alone():
    request = HttpRequest("GET", URL)
    assert multipart.prepare_multipart_body(request) == 0 and request.content is None


ANSWERED = (
    b"--batchresponse_7c\r\nContent-Type: multipart/mixed; boundary=changesetresponse_1d\r\n\r\n"
    b"--changesetresponse_1d\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\nDataServiceVersion: 3.0;\r\nETag: W/\"datetime'2026-12-04T13%3A49%3A14.6275033Z'\""
    b"\r\n\r\n\r\n"
    b"--changesetresponse_1d\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nLocation: http://127.0.0.1/devstoreaccount1/t(PartitionKey='p',RowKey='r3')\r\n"
    b"ETag: W/\"datetime'2026-12-04T13%3A49%3A14.6275045Z'\"\r\n\r\n\r\n"
    b"--changesetresponse_1d--\r\n--batchresponse_7c--\r\n"
)
FAILED = (
    b"--batchresponse_c4\r\nContent-Type: multipart/mixed; boundary=changesetresponse_8d\r\n\r\n"
    b"--changesetresponse_8d\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 409 Conflict\r\nContent-ID: 2\r\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8"
    b"\r\n\r\n"
    b'{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"1:The specified entity '
    b'already exists.\\nRequestId:d1a9"}}}\r\n'
    b"--changesetresponse_8d--\r\n--batchresponse_c4--\r\n"
)


def _parts(parse, body: bytes, boundary: str, operations: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Read an answer the way azure-core does (`_get_raw_parts_helper`), with `parse` as its message parser."""
    message = parse(b"Content-Type: multipart/mixed; boundary=" + boundary.encode() + b"\r\n\r\n" + body)
    requests = [HttpRequest("POST", URL) for _ in range(operations)]
    changeset = HttpRequest("POST", "")
    changeset.set_multipart_mixed(*requests)

    class Answer:
        request = HttpRequest("POST", URL)

        def _decode_parts(self, message, http_response_type, requests):
            return RestHttpClientTransportResponse._decode_parts(self, message, http_response_type, requests)

    Answer.request.set_multipart_mixed(changeset)
    parts = azure_shared._decode_parts_helper(
        Answer(), message, RestHttpClientTransportResponse, [changeset], _deserialize
    )
    return [(p.status_code, dict(p.headers), p.read()) for p in parts]


def _deserialize(http_response_as_bytes, http_request, http_response_type):
    from http.client import HTTPResponse

    response = HTTPResponse(azure_shared.BytesIOSocket(http_response_as_bytes), method=http_request.method)
    response.begin()
    return http_response_type(request=http_request, internal_response=response)


@pytest.mark.parametrize(("body", "boundary", "operations", "statuses"), [
    (ANSWERED, "batchresponse_7c", 2, [204, 201]),
    (FAILED, "batchresponse_c4", 2, [409]),
])
def test_an_answer_reads_as_azure_core_reads_it(body, boundary, operations, statuses):
    ours = _parts(multipart.parse_message, body, boundary, operations)
    theirs = _parts(email.message_from_bytes, body, boundary, operations)

    assert ours == theirs
    assert [status for status, _, _ in ours] == statuses


def test_an_answer_with_bare_line_feeds_and_a_quoted_boundary_still_splits():
    body = ANSWERED.replace(b"\r\n", b"\n").replace(b"=changesetresponse_1d", b'="changesetresponse_1d"')
    batch = multipart.parse_message(b'Content-Type: multipart/mixed; boundary="batchresponse_7c"\n\n' + body)

    (changeset,) = batch.get_payload()
    parts = changeset.get_payload()
    assert changeset.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in parts] == ["application/http", "application/http"]
    assert [p.get_payload(decode=True).split(b"\n")[0] for p in parts] == [b"HTTP/1.1 204 No Content",
                                                                          b"HTTP/1.1 201 Created"]


def test_a_multipart_part_without_a_boundary_is_an_error():
    with pytest.raises(ValueError, match="boundary"):
        multipart.parse_message(b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\n--x--").get_payload()
