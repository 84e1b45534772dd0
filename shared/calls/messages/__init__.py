"""Queue messages about calls: one dataclass per queue, next to its queue's name.

`to_message()` gives the message text as it goes on the queue; `from_message(text)` reads it back and raises
ValidationError, naming what is wrong, for a message that can never be processed. The wire formats are those the
app always used (create-call and campaign-recipients are fed by other services: see README "Queues"), so
messages already in a deployed app's queues still parse.
"""
