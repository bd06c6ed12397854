"""Token buckets (sans-I/O: time is a parameter); the learned link rate is in test_flow.py."""

from gatewayd.sending.pacing import TokenBucket, backoff


def test_bucket_allows_burst_then_paces():
    b = TokenBucket(rate=2, burst=4, now=0)
    assert b.available(0) == 4
    b.take(4, 0)
    assert b.wait(1, 0) == 0.5
    assert b.available(0.5) == 1


def test_long_message_goes_into_debt_instead_of_starving():
    b = TokenBucket(rate=1, burst=3, now=0)
    assert b.wait(10, 0) == 0            # capped at the burst: it may go now
    b.take(10, 0)
    assert b.wait(1, 0) == 8             # the debt delays the next one exactly
    assert b.wait(1, 8) == 0


def test_unlimited_bucket():
    b = TokenBucket(rate=None, burst=1)
    assert b.wait(1000, 0) == 0 and b.available(0) > 10**6


def test_backoff_grows_and_caps():
    steps = [backoff(n, 5, 600, jitter=0) for n in range(1, 10)]
    assert steps[:4] == [5, 10, 20, 40] and max(steps) == 600
