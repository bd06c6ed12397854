"""The learned link rate (sending/flow.py) against the fake SMSC's carrier models (sans-I/O:
simulated time, a sender paced by the probe's rate exactly as the dispatcher paces a link)."""

from __future__ import annotations

import heapq

import pytest

from gatewayd.sending.flow import FLOOR, RateProbe
from gatewayd.sending.pacing import TokenBucket
from tests.fakes.carrier import RateLimit, Storms


def simulate(carrier, n: int, *, speed: float, latency: float = 0.002, start: float = 1000.37,
             probe: RateProbe | None = None) -> dict:
    """Send ``n`` accepted submits as fast as ``speed`` and the probe allow; answers come back
    ``latency`` later. Returns the accepted rate and throttle counts as the carrier saw them."""
    probe = probe or RateProbe()
    bucket = TokenBucket(probe.rate, probe.burst(), start)
    t, accepted, first = start, 0, start
    answers: list[tuple[float, bool]] = []
    throttles = throttles_after = submits_after = 0
    last_ok = start
    while accepted < n:
        while answers and answers[0][0] <= t:
            at, ok = heapq.heappop(answers)
            probe.accepted(at) if ok else probe.throttled(at)
            if probe.rate != bucket.rate:
                bucket.set_rate(probe.rate, probe.burst())
        wait = bucket.wait(1, t)
        if wait > 0:
            t += min(wait, 1 / speed)
            continue
        bucket.take(1, t)
        ok = carrier(t)
        late = t - first > 1.0
        submits_after += late
        if ok:
            accepted, last_ok = accepted + 1, t
        else:
            throttles += 1
            throttles_after += late
        heapq.heappush(answers, (t + latency, ok))
        t += 1 / speed
    return {"rate": accepted / (last_ok - first), "throttles": throttles,
            "late_share": throttles_after / max(1, submits_after), "probe": probe}


@pytest.mark.parametrize("model", ["bucket", "fixed", "sliding"])
@pytest.mark.parametrize("allowed", [300, 1000])
def test_converges_on_what_the_carrier_allows(model, allowed):
    limit = RateLimit(allowed, model)
    r = simulate(limit.admit, 6000, speed=3 * allowed)
    assert r["rate"] >= 0.9 * allowed
    assert r["late_share"] < 0.02          # throttle answers after the first second
    assert r["probe"].rate is not None and 0.85 * allowed <= r["probe"].rate <= 1.1 * allowed


@pytest.mark.parametrize("phase", [0.05, 0.3, 0.6, 0.85, 0.95])
def test_a_fixed_window_in_any_phase_still_gets_nine_tenths(phase):
    """Starting late in a counter's second inflates the first measure; it corrects itself."""
    limit = RateLimit(300, "fixed")
    r = simulate(limit.admit, 6000, speed=900, start=1000 + phase)
    assert r["rate"] >= 0.9 * 300 and r["late_share"] < 0.05


def test_a_storm_drops_to_the_floor_and_the_remembered_rate_comes_back():
    limit, storms = RateLimit(300, "bucket"), Storms(every=10.0, length=3.0, start=1005.0)
    probe = RateProbe()
    r = simulate(lambda t: not storms.raging(t) and limit.admit(t), 9000, speed=900, probe=probe)
    assert r["rate"] >= 0.6 * 300            # 3 s in every 10 refused outright, and the rest used
    p2 = RateProbe(rate=300.0)
    for i in range(1500):                                  # 5 s clean at 290/s: a good rate is known
        p2.accepted(1000 + i / 290)
    good = p2.good
    assert good is not None and good >= 290
    t = 1006.0
    while t < 1009.0:                                      # 3 s of refusals: down to the floor
        p2.throttled(t)
        t += 0.01
    assert p2.rate == FLOOR and p2.good == good
    p2.accepted(1009.6)                                    # the storm is over: the first one through
    assert p2.rate == good                                 # back at once, not climbing from the floor


def test_a_used_up_window_is_not_a_reason_to_cut_again():
    p = RateProbe()
    for i in range(300):
        p.accepted(1000 + i / 1500)                        # a burst used the whole second
    assert p.throttled(1000.2) and p.rate == pytest.approx(285)
    for k in range(1, 30):                                 # refused until the counter's second ends
        p.throttled(1000.2 + k * 0.025)
    assert p.rate == pytest.approx(285)


def test_max_rate_caps_and_a_stored_rate_is_where_it_starts():
    p = RateProbe(cap=50.0, rate=80.0, good=70.0)
    assert p.rate == 50.0 and p.good == 50.0
    t = 1000.0
    for _ in range(2000):                                  # a carrier that takes anything
        p.accepted(t)
        t += 1 / 50
    assert p.rate == 50.0
    assert RateProbe(rate=123.0, good=120.0).rate == 123.0
    assert RateProbe().rate is None                        # nothing learned: unlimited


def test_an_idle_link_does_not_drift_up():
    p = RateProbe(rate=100.0)
    for i in range(100):
        p.accepted(1000.0 + i)                             # 1 a second, far below the rate
    assert p.rate == 100.0


@pytest.mark.parametrize("model", ["bucket", "fixed", "sliding"])
def test_carrier_models_accept_their_rate(model):
    limit = RateLimit(100, model, burst=10)
    accepted = sum(limit.admit(1000 + i / 1000) for i in range(10_000))   # 10 s at 1,000/s
    assert 1000 <= accepted <= 1010 + (10 if model == "bucket" else 0)


def test_fixed_window_resets_on_the_second_and_sliding_does_not():
    fixed, sliding = RateLimit(10, "fixed"), RateLimit(10, "sliding")
    burst = [1000.9 + i / 1000 for i in range(10)]
    assert all(fixed.admit(t) for t in burst) and all(sliding.admit(t) for t in burst)
    assert fixed.admit(1001.05)                      # a new second: the fixed counter starts again
    assert not sliding.admit(1001.05)                # the last second still holds ten


def test_storms_rage_periodically():
    s = Storms(every=10, length=3, start=100)
    assert [s.raging(t) for t in (99, 100, 102.9, 103, 109.9, 110, 112)] == [False, True, True, False, False, True,
                                                                             True]
