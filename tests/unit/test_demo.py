"""The pure parts of `make demo` (devstack/demo.py) and `make bench` (bench/campaign_bench.py): the scripted
recipients, the CLI command lines, the checks against the scripts, and the concurrency arithmetic."""

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.campaign_bench import Run, StuckCall, mean_concurrency, measure, report, share_of_time_at
from bench.campaign_bench import parse_args as bench_args
from callctl.cli import campaign_settings, read_plan
from callctl.cli import parse_args as callctl_args
from callctl.recipients import parse_recipients
from devstack import demo
from devstack.demo import BEHAVIOURS, EmulatedCall, check_caps, check_outcomes, peak_overlap, scripted_recipients
from shared.campaigns.service import check_recipients, parse_campaign, parse_recipients_csv

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def call(start: float, end: float | None, target: str = "+13125550100", caller_id: str = "+18005550101"):
    return EmulatedCall(
        target, caller_id, T0 + timedelta(seconds=start), None if end is None else T0 + timedelta(seconds=end)
    )


# -- the scripted recipients and the CLI commands ---------------------------------------------------------------


def test_fifty_recipients_take_every_behaviour_and_language_in_turn_with_distinct_valid_numbers():
    recipients = scripted_recipients(50)

    numbers = [n for r in recipients for n in r.numbers]
    assert len(set(numbers)) == len(numbers) and len({r.recipient_id for r in recipients}) == 50
    assert [r.behaviour for r in recipients[: len(BEHAVIOURS)]] == list(BEHAVIOURS)
    assert {r.language for r in recipients} == set(demo.LANGUAGES)
    two_numbers = [r for r in recipients if r.behaviour.first_numbers]
    assert two_numbers and all(len(r.numbers) == 2 for r in two_numbers)
    parsed = parse_recipients(demo.recipients_csv(recipients))
    assert [(p.key, p.phone_numbers or (p.phone_number,)) for p in parsed] == [
        (r.recipient_id, r.numbers) for r in recipients
    ]


def test_the_plans_fill_in_for_every_scripted_recipient_and_the_poll_calls_the_opted_out_again():
    reminded = scripted_recipients(16)
    polled = demo.poll_recipients(reminded)
    for plan, recipients in ((demo.PLAN, reminded), (demo.POLL_PLAN, polled)):
        body = {"plan": plan, "callerIds": list(demo.CALLER_IDS), "timeZone": demo.TIME_ZONE}
        campaign, _ = parse_campaign(body, default_caller_id=None)
        check_recipients(campaign.config, parse_recipients_csv(demo.recipients_csv(recipients)))  # raises if not

    opted_out = {r.recipient_id for r in reminded if r.behaviour.outcome == "opted-out"}
    assert opted_out and {r.recipient_id for r in polled if r.behaviour is demo.SUPPRESSED} == opted_out
    assert all(r.behaviour.calls == 0 for r in polled if r.recipient_id in opted_out)


def test_the_submit_command_is_one_the_cli_accepts_with_the_demo_caps(tmp_path: Path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(demo._json(demo.PLAN))
    argv = demo.submit_command(tmp_path / "r.csv", plan_file, "http://127.0.0.1:5000", "demo-1234")

    args = callctl_args(argv[2:])  # after `-m callctl`
    settings = campaign_settings(args, read_plan(plan_file))

    assert argv[:2] == ["-m", "callctl"]
    assert settings["campaignId"] == "demo-1234"
    assert settings["callerIds"] == list(demo.CALLER_IDS)
    assert settings["pacing"] == {
        "maxConcurrentCalls": demo.MAX_CONCURRENT,
        "maxConcurrentCallsPerCallerId": demo.PER_CALLER_ID,
        "callsPerSecond": demo.CALLS_PER_SECOND,
    }
    assert settings["retry"] == {"maxAttempts": demo.MAX_ATTEMPTS, "delaySeconds": demo.RETRY_DELAY_SECONDS}
    assert settings["plan"] == demo.PLAN
    assert max(b.calls for b in BEHAVIOURS) == demo.MAX_ATTEMPTS  # "never answers" uses every attempt


def test_the_command_shown_is_the_command_run():
    argv = demo.report_command("http://127.0.0.1:5000", "demo-1", Path("/tmp/a b/calls.csv"), Path("/tmp/r.html"))

    shown = demo.as_typed(argv)

    assert shown.startswith("python -m callctl campaign report demo-1 \\\n")
    assert shlex.split(shown.replace("\\\n", " ")) == ["python", *argv]


# -- checking a finished campaign -------------------------------------------------------------------------------


def _csv(rows: list[tuple[str, str, str, int]]) -> str:
    lines = ["recipientId,status,outcome,attempts,choice,voicemailLeft,answeredNumber"]
    lines += [",".join(map(str, row)) for row in rows]
    return "\n".join(lines) + "\n"


def _as_scripted(recipients):
    rows = [(r.recipient_id, "done", r.behaviour.outcome, r.behaviour.calls, r.behaviour.choice,
             "true" if r.behaviour.leaves_voicemail else "false", r.numbers[-1]) for r in recipients]
    calls = [call(0, 1, r.numbers[-1]) for r in recipients for _ in range(r.behaviour.calls)]
    return rows, calls


def test_a_campaign_that_did_what_the_scripts_say_has_no_mismatch():
    recipients = scripted_recipients(16)
    rows, calls = _as_scripted(recipients)

    assert check_outcomes(recipients, _csv(rows), calls) == []
    poll = demo.poll_recipients(recipients)
    assert check_outcomes(poll, _csv(_as_scripted(poll)[0]), _as_scripted(poll)[1]) == []


def test_a_wrong_outcome_a_missing_row_an_extra_call_and_the_wrong_answering_number_are_each_reported():
    recipients = scripted_recipients(8)
    rows, calls = _as_scripted(recipients)
    rows[0] = (rows[0][0], "done", "declined", 1, "", "false", "")  # confirms, recorded as declined
    del rows[4]  # unreachable: not in the CSV
    calls.append(call(5, 6, recipients[1].phone_number))  # declines: called twice, recorded once
    rows[-1] = (*rows[-1][:6], recipients[7].numbers[0])  # answered at home, recorded on the mobile

    problems = {p.recipient_id: p for p in check_outcomes(recipients, _csv(rows), calls)}

    assert set(problems) == {recipients[i].recipient_id for i in (0, 1, 4, 7)}
    assert problems[recipients[0].recipient_id].got == "done, declined, 1 call(s)"
    assert problems[recipients[1].recipient_id].got.endswith("but the emulator saw 2")
    assert problems[recipients[4].recipient_id].got == "not in calls.csv"
    assert problems[recipients[7].recipient_id].got == "done, confirmed, 2 call(s), answered on number 1"


def test_each_reminded_recipient_who_picked_up_must_hear_its_own_name_in_its_language():
    recipients = scripted_recipients(8)
    said = {r.numbers[-1]: [f"{demo.GREETINGS[r.language]} {r.name}, this is Contoso"] for r in recipients}
    assert demo.check_spoken(recipients, said) == []

    declines = recipients[1]
    said[declines.numbers[-1]] = [f"Hello {declines.name}, this is Contoso"]  # in English, to a Spanish speaker
    del said[recipients[0].numbers[-1]]  # the confirming one heard nothing

    assert declines.language == "es-US"
    assert {p.recipient_id for p in demo.check_spoken(recipients, said)} == {
        recipients[0].recipient_id, declines.recipient_id}


def test_caps_are_checked_from_the_log_and_from_the_emulators_counters():
    calls = [call(i, i + 10, caller_id=demo.CALLER_IDS[i % 3]) for i in range(demo.MAX_CONCURRENT)]
    stats = {"peakConcurrentCalls": demo.MAX_CONCURRENT, "peakConcurrentCallsByCallerId": {demo.CALLER_IDS[0]: 2}}

    assert not any("OVER" in line for line in check_caps(calls, stats))
    over = check_caps([*calls, call(5.5, 6)], {**stats, "peakConcurrentCalls": demo.MAX_CONCURRENT + 1})
    assert [line.split(":")[0].strip() for line in over if "OVER" in line] == [
        "OVER peak concurrency all caller ids, from the call log",
        "OVER peak concurrency all caller ids, /emulator/stats",
    ]


def test_history_rows_become_calls_without_the_raw_id_prefix():
    row = {
        "targets": ["4:+13125550100"],
        "callerId": "+18005550101",
        "createdAt": "2026-01-01T00:00:00+00:00",
        "endedAt": "2026-01-01T00:00:02.500000+00:00",
    }

    parsed = EmulatedCall.from_history(row)

    assert (parsed.target, parsed.caller_id, parsed.seconds) == ("+13125550100", "+18005550101", 2.5)
    assert EmulatedCall.from_history({**row, "endedAt": None}).seconds == 0.0


# -- concurrency arithmetic -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intervals", "peak"),
    [
        ([], 0),
        ([(0, 1), (1, 2), (2, 3)], 1),  # back to back: an end and a start at one instant do not overlap
        ([(0, 3), (1, 2), (1.5, 4)], 3),
        ([(0, None), (5, 6)], 2),  # a call that has not ended is live from its start on
    ],
)
def test_peak_overlap(intervals, peak):
    assert peak_overlap([call(start, end) for start, end in intervals]) == peak


def test_mean_concurrency_is_call_seconds_over_the_span_and_time_at_a_level_is_a_share_of_it():
    calls = [call(0, 4), call(0, 2), call(2, 4), call(6, 10)]  # 2 live for 4 s, none for 2 s, 1 for 4 s

    assert mean_concurrency(calls) == pytest.approx(12 / 10)
    assert share_of_time_at(calls, 2) == pytest.approx(0.4)
    assert share_of_time_at(calls, 1) == pytest.approx(0.8)
    assert share_of_time_at(calls, 3) == 0


def test_a_run_that_keeps_the_cap_full_is_ideal():
    cap, length = 4, 2.0
    calls = [call(wave * length, (wave + 1) * length) for wave in range(5) for _ in range(cap)]
    run = Run("main", 20, cap, T0 - timedelta(seconds=1), 12.0, calls, {"peakConcurrentCalls": cap})

    metrics = measure(run)

    assert (metrics.peak, metrics.within_cap) == (cap, True)
    assert metrics.mean_call_seconds == length
    assert metrics.ideal_seconds == metrics.span_seconds == 10.0
    assert metrics.utilisation == pytest.approx(1.0)
    assert metrics.time_at_cap == pytest.approx(1.0)
    assert metrics.first_call_after_seconds == 1.0
    assert metrics.calls_per_second == metrics.ideal_calls_per_second == 2.0


def test_bench_defaults_are_a_thousand_recipients_a_cap_of_twenty_and_the_app_before_issue_8_to_compare_to():
    settings = bench_args([])

    assert (settings.recipients, settings.cap, settings.compare_to) == (1000, 20, "c6f4b1c")
    # ACS's two live calls per number: a cap of 20 needs 10 numbers
    assert settings.per_caller_id == 2 and len(settings.caller_ids) == 10 and settings.count_storage
    assert len(bench_args(["--cap", "7"]).caller_ids) == 4
    assert bench_args(["--compare-to", "none"]).compare_to is None
    assert bench_args(["--compare-to", "HEAD~3", "--direct-storage"]).compare_to == "HEAD~3"
    assert not bench_args(["--direct-storage"]).count_storage


def test_stuck_calls_are_left_out_of_the_numbers_and_fail_the_bench():
    settings = bench_args(["--cap", "2"])
    calls = [call(0, 2), call(0, 2), call(2, 4), call(2, 300)]
    calls[3] = EmulatedCall(calls[3].target, calls[3].caller_id, calls[3].created_at, calls[3].ended_at, "lost")
    stuck = StuckCall("lost", "+13125550100", T0.isoformat(), "leg-1", ["CallConnected: delivered"], ["a log line"])
    run = Run("main", 4, 2, T0, 301.0, calls, {"peakConcurrentCalls": 2}, {"answered": 4}, [stuck])

    metrics = measure(run)
    text, all_well = report(settings, [run])

    assert (metrics.calls, metrics.mean_call_seconds, metrics.wall_seconds) == (3, 2.0, 4.0)
    assert not all_well
    assert "call lost to +13125550100" in text and "app: a log line" in text
