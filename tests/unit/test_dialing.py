"""Who gets a line: the dispatcher on lines, campaigns and queues kept in memory."""

import json

from shared.campaigns.dialing import HELD_DIAL_SECONDS
from shared.campaigns.service import DEFAULTS
from shared.campaigns.store import CANCELLED, QUEUED, Campaign, Recipient
from shared.lines import Grant, Waiting
from tests.support import fakes

NUMBER = "+18005550100"


def _setup(cap=1, numbers=(NUMBER,), campaigns=("a",)):
    tables, lines, queue = fakes.CampaignTables(), fakes.Lines(lines_per_number=cap), fakes.Queue()
    for campaign_id in campaigns:
        pacing = {"maxConcurrentCalls": 10, "maxConcurrentCallsPerCallerId": cap, "callsPerSecond": float("inf")}
        config = {**DEFAULTS, "callerIds": list(numbers), "pacing": pacing}
        tables.create_campaign(Campaign(campaign_id, campaign_id, config))
    service = fakes.campaign_service(tables, lines=lines, queue=queue)
    return service, tables, lines, queue


def _ready(tables, campaign_id, *phones, at="2026-12-01T10:00:0{}+00:00"):
    entries = []
    for index, phone in enumerate(phones):
        tables.add_recipient(Recipient(campaign_id, phone, status=QUEUED))
        entries.append(Waiting(campaign_id, phone, 1, at.format(index)))
    return entries


def _dialled(queue) -> list[tuple[str, str]]:
    return [(m["campaignId"], m["recipientId"]) for m in map(json.loads, queue.messages) if "grant" in m]


def test_recipients_start_while_lines_are_free_and_the_rest_wait_in_order():
    service, tables, lines, queue = _setup(cap=2)
    campaign = tables.get_campaign("a")

    started = service.dispatcher.start_waiting(campaign, _ready(tables, "a", "+1", "+2", "+3", "+4"))

    assert started == 2 and _dialled(queue) == [("a", "+1"), ("a", "+2")]
    assert lines.waiting_count("a") == 2


def test_an_ended_call_hands_its_line_to_the_oldest_recipient_of_its_campaign():
    service, tables, lines, queue = _setup(cap=1)
    campaign = tables.get_campaign("a")
    service.dispatcher.start_waiting(campaign, _ready(tables, "a", "+1", "+2", "+3"))
    first = json.loads(queue.messages[0])["grant"]

    service.dispatcher.line_freed(fakes_grant(first), "a")

    assert _dialled(queue) == [("a", "+1"), ("a", "+2")]
    (ended, given), = lines.handed_over
    assert given.line == ended.line  # the same line, never free in between
    assert lines.released == []


def test_a_handed_over_line_is_dialled_here_at_once_and_its_held_message_withdrawn():
    service, tables, lines, queue = _setup(cap=1)
    dialled_here = []
    service.dispatcher.dial_here = lambda *dial: dialled_here.append(dial)
    service.dispatcher.start_waiting(tables.get_campaign("a"), _ready(tables, "a", "+1", "+2"))
    first = fakes_grant(json.loads(queue.messages[0])["grant"])

    service.dispatcher.line_freed(first, "a")

    ((campaign_id, phone, dial, grant),) = dialled_here
    assert (campaign_id, phone, dial) == ("a", "+2", 1) and grant.line == first.line
    assert queue.delays[-1] == HELD_DIAL_SECONDS  # sent first, held back as the fallback...
    assert [json.loads(m)["recipientId"] for m in queue.pending] == ["+1"]  # ...and withdrawn once dialled
    assert lines.waiting_count("a") == 0


def test_a_handed_over_dial_that_fails_here_is_left_to_its_held_message():
    service, tables, _, queue = _setup(cap=1)

    def fail(*dial):
        raise ConnectionError("storage went away")

    service.dispatcher.dial_here = fail
    service.dispatcher.start_waiting(tables.get_campaign("a"), _ready(tables, "a", "+1", "+2"))

    service.dispatcher.line_freed(fakes_grant(json.loads(queue.messages[0])["grant"]), "a")

    held = json.loads(queue.pending[-1])
    assert held["recipientId"] == "+2" and held["grant"] and queue.delays[-1] == HELD_DIAL_SECONDS


def test_a_line_freed_by_a_dial_done_here_goes_on_by_queue_not_by_recursion():
    service, tables, _, queue = _setup(cap=1)
    dialled_here = []

    def dial_that_frees_its_line(campaign_id, phone, dial, grant):
        dialled_here.append(phone)
        service.dispatcher.line_freed(grant, campaign_id)  # e.g. ACS refused the call at once

    service.dispatcher.dial_here = dial_that_frees_its_line
    service.dispatcher.start_waiting(tables.get_campaign("a"), _ready(tables, "a", "+1", "+2", "+3"))

    service.dispatcher.line_freed(fakes_grant(json.loads(queue.messages[0])["grant"]), "a")

    assert dialled_here == ["+2"]
    assert [json.loads(m)["recipientId"] for m in queue.pending] == ["+1", "+3"]


def test_a_line_nobody_of_its_campaign_wants_goes_to_a_campaign_waiting_for_that_number():
    service, tables, _, queue = _setup(cap=1, campaigns=("a", "b"))
    service.dispatcher.start_waiting(tables.get_campaign("a"), _ready(tables, "a", "+1"))
    service.dispatcher.start_waiting(tables.get_campaign("b"), _ready(tables, "b", "+9"))  # waits: one line
    assert _dialled(queue) == [("a", "+1")]

    service.dispatcher.line_freed(fakes_grant(json.loads(queue.messages[0])["grant"]), "a")

    assert _dialled(queue) == [("a", "+1"), ("b", "+9")]


def test_cancelling_finishes_everyone_still_waiting():
    service, tables, lines, _ = _setup(cap=1)
    service.dispatcher.start_waiting(tables.get_campaign("a"), _ready(tables, "a", "+1", "+2", "+3"))

    service.cancel("a")

    assert [tables.get_recipient("a", p).status for p in ("+2", "+3")] == [CANCELLED, CANCELLED]
    assert lines.waiting_count("a") == 0 and "a" not in lines.waiting_campaigns()


def test_a_dial_for_a_cancelled_campaign_hands_its_line_on():
    service, tables, lines, queue = _setup(cap=1)
    service.dispatcher.start_waiting(tables.get_campaign("a"), _ready(tables, "a", "+1"))
    grant = fakes_grant(json.loads(queue.messages[0])["grant"])
    tables.cancel_campaign("a", "now")
    service.dispatcher.campaign("a", fresh=True)

    assert service.dial("a", "+1", 1, grant) == "cancelled"
    assert not lines.holds(grant) and tables.get_recipient("a", "+1").status == CANCELLED


def fakes_grant(value) -> Grant:
    return Grant.from_dict(value)
