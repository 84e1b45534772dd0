"""Queue `play-audio`: `{"callLegId": ..., <PlayAudio body>}` from other services.

The message id names the play operation, so a message delivered twice plays once. A call that is not connected
yet (it may still be ringing) is tried again after the host's visibility timeout.
"""

import azure.functions as func

from shared.callautomation import CallAutomationError
from shared.calls.errors import CallEndedError
from shared.calls.messages.play_audio import PlayAudioMessage
from shared.calls.store import CallLegNotFoundError
from shared.queues.handler import queue_handler
from shared.queues.poison import record_on_leg
from shared.services import get_call_service
from shared.storage.clients import PLAY_AUDIO_QUEUE

bp = func.Blueprint()


def give_up(message: PlayAudioMessage, msg: func.QueueMessage, reason: str) -> None:
    record_on_leg(get_call_service().store, message.call_leg_id, PLAY_AUDIO_QUEUE, msg.id)(reason)


@bp.function_name("play_audio_from_queue")
@bp.queue_trigger(arg_name="msg", queue_name=PLAY_AUDIO_QUEUE, connection="AzureWebJobsStorage")
@queue_handler(PLAY_AUDIO_QUEUE, PlayAudioMessage, give_up=give_up,
               poison_on=(CallLegNotFoundError, CallEndedError, CallAutomationError))
def play_audio_from_queue(message: PlayAudioMessage, msg: func.QueueMessage) -> None:
    get_call_service().play_audio(message.call_leg_id, message.request, operation_id=f"message:{msg.id}")
