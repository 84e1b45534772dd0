"""Queue messages of campaigns: one dataclass per queue, next to its queue's name (see shared/calls/messages)."""
