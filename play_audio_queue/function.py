"""Queue `play-audio`: `{"callLegId": ..., <PlayAudio body>}` from other services.

The message id names the play operation, so a message delivered twice plays once.
"""

import azure.functions as func

from shared.api_errors import ApiError
from shared.api_models import ValidationError, parse_play_audio
from shared.call_leg_store import CallLegNotFoundError
from shared.callautomation import CallAutomationError
from shared.poison import move_to_poison
from shared.queue_messages import message_json, message_text
from shared.services import get_call_service
from shared.settings import get_settings
from shared.storage import PLAY_AUDIO_QUEUE

bp = func.Blueprint()


@bp.function_name("play_audio_from_queue")
@bp.queue_trigger(arg_name="msg", queue_name=PLAY_AUDIO_QUEUE, connection="AzureWebJobsStorage")
def play_audio_from_queue(msg: func.QueueMessage) -> None:
    settings = get_settings()
    service = get_call_service()
    call_leg_id = None
    try:
        body = message_json(msg)
        call_leg_id = body.get("callLegId")
        if not isinstance(call_leg_id, str) or not call_leg_id:
            raise ValidationError("callLegId", "is required.")
        service.play_audio(call_leg_id, parse_play_audio(body), operation_id=f"message:{msg.id}")
    except (ValidationError, CallLegNotFoundError, ApiError) as error:
        reason = str(error) if not isinstance(error, ApiError) else error.message
        move_to_poison(
            settings,
            PLAY_AUDIO_QUEUE,
            msg.id,
            message_text(msg),
            reason,
            store=service.store,
            call_leg_id=call_leg_id if isinstance(call_leg_id, str) else None,
        )
    except CallAutomationError as error:
        if error.status_code is None or error.status_code >= 500 or error.status_code == 429:
            raise  # transient: the host retries
        move_to_poison(
            settings,
            PLAY_AUDIO_QUEUE,
            msg.id,
            message_text(msg),
            f"ACS refused the play: {error}",
            store=service.store,
            call_leg_id=call_leg_id,
        )
