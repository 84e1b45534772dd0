"""Queue `play-audio`: `{"callLegId": ..., <PlayAudio body>}` from other services.

The message id names the play operation, so a message delivered twice plays once.
"""

import azure.functions as func

from shared.api_errors import ApiError
from shared.api_models import ValidationError, parse_play_audio
from shared.call_leg_store import CallLegNotFoundError
from shared.callautomation import CallAutomationError
from shared.ids import is_call_leg_id
from shared.poison import final_attempt, move_to_poison, record_on_leg
from shared.queue_messages import message_json, message_text
from shared.services import get_call_service
from shared.settings import get_settings
from shared.storage import PLAY_AUDIO_QUEUE

bp = func.Blueprint()


@bp.function_name("play_audio_from_queue")
@bp.queue_trigger(arg_name="msg", queue_name=PLAY_AUDIO_QUEUE, connection="AzureWebJobsStorage")
def play_audio_from_queue(msg: func.QueueMessage) -> None:
    service = get_call_service()
    call_leg_id = None
    try:
        body = message_json(msg)
        call_leg_id = body.get("callLegId") if is_call_leg_id(body.get("callLegId")) else None
        if not call_leg_id:
            raise ValidationError("callLegId", "must be the callLegId that POST /calls answered.")
        request = parse_play_audio(body)
        give_up = record_on_leg(service.store, call_leg_id, PLAY_AUDIO_QUEUE, msg.id)
        with final_attempt(msg, PLAY_AUDIO_QUEUE, give_up):
            service.play_audio(call_leg_id, request, operation_id=f"message:{msg.id}")
        return
    except ApiError as error:
        if error.code == "CallNotConnected":
            raise  # the call may still be ringing: the host tries again after its visibility timeout
        reason = error.message
    except (ValidationError, CallLegNotFoundError) as error:
        reason = str(error)
    except CallAutomationError as error:
        if error.is_transient:
            raise  # transient: the host retries
        reason = f"ACS refused the play: {error}"
    move_to_poison(get_settings(), PLAY_AUDIO_QUEUE, msg.id, message_text(msg), reason,
                   store=service.store, call_leg_id=call_leg_id)
