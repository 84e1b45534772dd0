"""The Function App: one blueprint per operation, the app's private logs and its telemetry. Nothing else belongs
here."""

import azure.functions as func

from add_recipients import bp as add_recipients_bp
from add_suppression import bp as add_suppression_bp
from callback import bp as callback_bp
from campaign_calls_csv import bp as campaign_calls_csv_bp
from campaign_dial import bp as campaign_dial_bp
from campaign_recipients_queue import bp as campaign_recipients_queue_bp
from campaign_report import bp as campaign_report_bp
from campaign_results import bp as campaign_results_bp
from cancel_campaign import bp as cancel_campaign_bp
from cancel_media import bp as cancel_media_bp
from create_call import bp as create_call_bp
from create_call_queue import bp as create_call_queue_bp
from create_campaign import bp as create_campaign_bp
from deliver_event import bp as deliver_event_bp
from dispatch_waiting import bp as dispatch_waiting_bp
from get_call import bp as get_call_bp
from get_campaign import bp as get_campaign_bp
from hangup import bp as hangup_bp
from health import bp as health_bp
from health_details import bp as health_details_bp
from invite_participants import bp as invite_participants_bp
from list_suppressions import bp as list_suppressions_bp
from play_audio import bp as play_audio_bp
from play_audio_queue import bp as play_audio_queue_bp
from reconcile_calls import bp as reconcile_calls_bp
from remove_participant import bp as remove_participant_bp
from remove_suppression import bp as remove_suppression_bp
from shared.logs import install_private_logging
from shared.telemetry import configure_telemetry

# Phone numbers masked, secrets removed and ids added in every log record (shared/logs.py), from the first one.
install_private_logging()
# Traces, metrics and logs to Azure Monitor or OTLP where the app settings say so; nothing otherwise.
configure_telemetry()

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
    create_campaign_bp,
    add_recipients_bp,
    cancel_campaign_bp,
    get_campaign_bp,
    campaign_calls_csv_bp,
    campaign_report_bp,
    campaign_recipients_queue_bp,
    campaign_dial_bp,
    campaign_results_bp,
    reconcile_calls_bp,
    dispatch_waiting_bp,
    add_suppression_bp,
    list_suppressions_bp,
    remove_suppression_bp,
    health_bp,
    health_details_bp,
):
    app.register_functions(blueprint)
