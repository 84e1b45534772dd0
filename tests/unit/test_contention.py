"""Pauses between attempts of a read-change-write that lost an ETag race."""

from shared.storage.contention import LONGEST_PAUSE_SECONDS, pause_before


def test_writers_that_lost_a_race_retry_at_once_then_spread_out_within_a_cap():
    assert pause_before(0) == pause_before(1) == 0.0  # the first try and the first retry do not wait
    pauses = [pause_before(attempt) for attempt in range(2, 20) for _ in range(50)]
    assert all(0 <= p <= LONGEST_PAUSE_SECONDS for p in pauses)
    assert len({round(p, 6) for p in pauses}) > 100  # random: writers that lost together do not come back together
    assert max(pause_before(3) for _ in range(200)) <= 0.01 < max(pause_before(12) for _ in range(200))
