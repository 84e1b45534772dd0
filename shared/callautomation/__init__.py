"""The app's ACS Call Automation client: `CallAutomationClient` and what it takes and returns."""

from shared.callautomation.auth import EntraIdAuth, HmacAuth
from shared.callautomation.client import DEFAULT_API_VERSION, CallAutomationClient, RetryPolicy
from shared.callautomation.connection_string import (
    ConnectionString,
    InvalidConnectionStringError,
    parse_connection_string,
)
from shared.callautomation.errors import (
    AuthenticationError,
    CallAutomationError,
    CallNotFoundError,
    ConflictError,
    InvalidRequestError,
    ServiceUnavailableError,
    ThrottledError,
)
from shared.callautomation.identifiers import InvalidIdentifierError, from_acs_identifier, raw_id_of, to_acs_identifier
from shared.callautomation.models import (
    AddParticipantResult,
    CallConnection,
    CallParticipant,
    file_source,
    text_source,
    tones_of,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "AddParticipantResult",
    "AuthenticationError",
    "CallAutomationClient",
    "CallAutomationError",
    "CallConnection",
    "CallNotFoundError",
    "CallParticipant",
    "ConflictError",
    "ConnectionString",
    "EntraIdAuth",
    "HmacAuth",
    "InvalidConnectionStringError",
    "InvalidIdentifierError",
    "InvalidRequestError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "ThrottledError",
    "file_source",
    "from_acs_identifier",
    "parse_connection_string",
    "raw_id_of",
    "text_source",
    "to_acs_identifier",
    "tones_of",
]
