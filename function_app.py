"""The Function App: one blueprint per operation. Nothing else belongs here."""

import azure.functions as func

from callback import bp as callback_bp
from cancel_media import bp as cancel_media_bp
from create_call import bp as create_call_bp
from create_call_queue import bp as create_call_queue_bp
from deliver_event import bp as deliver_event_bp
from get_call import bp as get_call_bp
from hangup import bp as hangup_bp
from invite_participants import bp as invite_participants_bp
from play_audio import bp as play_audio_bp
from play_audio_queue import bp as play_audio_queue_bp
from remove_participant import bp as remove_participant_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (
    create_call_bp,
    get_call_bp,
    hangup_bp,
    play_audio_bp,
    cancel_media_bp,
    invite_participants_bp,
    remove_participant_bp,
    callback_bp,
    create_call_queue_bp,
    play_audio_queue_bp,
    deliver_event_bp,
):
    app.register_functions(blueprint)
