"""Every queue message the app reads or writes: one dataclass per queue, next to its queue's name.

`to_message()` gives the message text as it goes on the queue; `from_message(text)` reads it back and raises
ValidationError, naming what is wrong, for a message that can never be processed. The wire formats are those the
app always used (create-call and campaign-recipients are fed by other services: see README "Queues"), so
messages already in a deployed app's queues still parse.
"""

from .campaign_dial import CampaignDialMessage
from .campaign_recipients import CampaignRecipientsMessage
from .campaign_results import CampaignResultMessage
from .create_call import CreateCallMessage
from .event_delivery import EventDeliveryMessage
from .in_process import LineFreedMessage, PlanStepMessage
from .play_audio import PlayAudioMessage

__all__ = [
    "CampaignDialMessage",
    "CampaignRecipientsMessage",
    "CampaignResultMessage",
    "CreateCallMessage",
    "EventDeliveryMessage",
    "LineFreedMessage",
    "PlanStepMessage",
    "PlayAudioMessage",
]
