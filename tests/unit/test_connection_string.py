import pytest

from shared.callautomation.connection_string import InvalidConnectionStringError, parse_connection_string


def test_parses_endpoint_and_key_keeping_base64_padding():
    parsed = parse_connection_string("endpoint=https://contoso.communication.azure.com/;accesskey=cHc9PQ==")

    assert parsed.endpoint == "https://contoso.communication.azure.com"
    assert parsed.access_key == "cHc9PQ=="


def test_keys_are_case_insensitive_and_order_free_and_port_is_kept():
    parsed = parse_connection_string("AccessKey=cHc9PQ==; Endpoint=http://127.0.0.1:7081/ ;")

    assert parsed.endpoint == "http://127.0.0.1:7081"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("accesskey=cHc9PQ==", "no endpoint"),
        ("endpoint=https://x.communication.azure.com/", "no accesskey"),
        ("endpoint=ftp://x/;accesskey=cHc9PQ==", "http(s) URL"),
        ("endpoint=https://x/;accesskey=%%%sekrit%%%", "not valid base64"),
        ("endpoint https://x/;accesskey=cHc9PQ==", "without '='"),
    ],
)
def test_bad_connection_strings_get_clear_errors_that_hide_the_key(text, fragment):
    with pytest.raises(InvalidConnectionStringError) as error:
        parse_connection_string(text)

    assert fragment in str(error.value)
    assert "sekrit" not in str(error.value)


def test_repr_never_shows_the_key():
    assert "cHc9PQ" not in repr(parse_connection_string("endpoint=https://x/;accesskey=cHc9PQ=="))
