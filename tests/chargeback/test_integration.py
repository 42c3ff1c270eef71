"""The integration rule on small step functions, to the second (no database)."""

from decimal import Decimal

from chargeback.integration import NamespaceState, Sample, integrate

GPU, GPU_LIMIT = "requests.nvidia.com/gpu", "limits.nvidia.com/gpu"
HOUR = 3600


def sample(time: int, key: str, hard: str, used: str | None, quota: str = "q") -> Sample:
    return Sample(time, quota, key, Decimal(hard), None if used is None else Decimal(used))


def run(samples, start=0, end=HOUR, *, state=None, max_gap=2 * HOUR, guaranteed=lambda quota: True, **kwargs):
    state = state if state is not None else NamespaceState()
    return integrate(state, samples, start=start, end=end, max_gap=max_gap, is_guaranteed=guaranteed, **kwargs), state


def test_a_change_inside_an_hour_counts_to_the_second():
    totals, _ = run([sample(0, GPU, "8", "2"), sample(630, GPU, "8", "5")])

    # 630 s at 2 GPUs, 2,970 s at 5, in milli-GPU-seconds.
    assert totals[0]["gpu_used"] == (2 * 630 + 5 * 2970) * 1000
    assert totals[0]["gpu_reserved"] == 8 * HOUR * 1000
    assert totals[0]["gpu_limit"] == 8 * HOUR * 1000


def test_fractions_round_up_to_thousandths_and_bytes():
    totals, _ = run([sample(0, "requests.cpu", "0.0005", "0.0001"), sample(0, "requests.memory", "1.5", "0.2")])

    assert (totals[0]["cpu_reserved"], totals[0]["cpu_used"]) == (HOUR, HOUR)
    assert (totals[0]["memory_reserved"], totals[0]["memory_used"]) == (2 * HOUR, HOUR)


def test_buckets_split_at_each_hour():
    totals, _ = run([sample(0, GPU, "4", "4")], end=3 * HOUR, max_gap=4 * HOUR)

    assert sorted(totals) == [0, HOUR, 2 * HOUR]
    assert {bucket: values["gpu_used"] for bucket, values in totals.items()} == dict.fromkeys(
        [0, HOUR, 2 * HOUR], 4 * HOUR * 1000
    )


def test_a_namespace_silent_beyond_the_max_gap_is_unknown_until_its_next_sample():
    totals, _ = run([sample(0, GPU, "8", "8"), sample(5000, GPU, "8", "8")], end=2 * HOUR, max_gap=1000)

    first, second = totals[0], totals[HOUR]
    assert first["gpu_reserved"] == 1000 * 8000  # held for the max gap only
    assert first["gpu_unknown"] == first["gpu_used_unknown"] == HOUR - 1000
    assert second["gpu_unknown"] == (5000 - HOUR) + (2 * HOUR - 6000)  # silent again after 6,000 s
    assert second["gpu_reserved"] == 1000 * 8000


def test_any_key_proves_the_namespace_is_watched_while_a_steady_quota_holds():
    samples = [sample(0, GPU, "8", "8")] + [sample(t, "pods", "50", str(t % 7)) for t in range(600, 4 * HOUR, 600)]

    totals, _ = run(samples, end=4 * HOUR, max_gap=1000)

    assert sum(values["gpu_reserved"] for values in totals.values()) == 4 * HOUR * 8000
    assert sum(values["gpu_unknown"] for values in totals.values()) == 0


def test_unknown_usage_is_reported_but_the_quota_is_still_reserved():
    totals, _ = run([sample(0, GPU, "8", None), sample(1800, GPU, "8", "3")])

    assert totals[0]["gpu_reserved"] == 8 * HOUR * 1000
    assert totals[0]["gpu_used"] == 3 * 1800 * 1000
    assert totals[0]["gpu_used_unknown"] == 1800


def test_before_its_first_sample_a_namespace_counts_nothing_not_even_unknown():
    totals, _ = run([sample(1800, GPU, "8", "8")])

    assert totals[0]["gpu_reserved"] == 8 * 1800 * 1000
    assert totals[0]["gpu_unknown"] == 0


def test_nothing_counts_after_deletion():
    totals, _ = run([sample(0, GPU, "8", "8")], end=2 * HOUR, deleted_at=900)

    assert list(totals) == [0]
    assert totals[0]["gpu_reserved"] == 900 * 8000


def test_burst_quotas_hold_burst_not_reserved_gpus():
    samples = [
        sample(0, GPU, "4", "4", quota="ns-guaranteed"),
        sample(0, GPU, "12", "7", quota="ns-burst"),
    ]

    totals, _ = run(samples, guaranteed=lambda quota: quota != "ns-burst")

    assert totals[0]["gpu_reserved"] == 4 * HOUR * 1000
    assert totals[0]["gpu_limit"] == 16 * HOUR * 1000
    assert totals[0]["gpu_used"] == 11 * HOUR * 1000
    assert totals[0]["gpu_burst"] == 7 * HOUR * 1000


def test_a_declared_gpu_limit_above_the_quotas_is_the_limit():
    totals, _ = run([sample(0, GPU, "8", "3"), sample(0, GPU_LIMIT, "32", "0")])

    assert totals[0]["gpu_limit"] == 32 * HOUR * 1000
    assert totals[0]["gpu_reserved"] == 8 * HOUR * 1000


def test_requests_cpu_wins_over_cpu_in_the_same_quota_and_quotas_add_up():
    samples = [
        sample(0, "cpu", "10", "1"),
        sample(0, "requests.cpu", "16", "2"),
        sample(0, "cpu", "4", "1", quota="other"),
    ]

    totals, _ = run(samples)

    assert totals[0]["cpu_reserved"] == (16 + 4) * HOUR * 1000
    assert totals[0]["cpu_used"] == (2 + 1) * HOUR * 1000


def test_integrating_in_parts_carries_the_state_and_equals_integrating_at_once():
    samples = [sample(0, GPU, "8", "1"), sample(4000, GPU, "8", "6"), sample(9000, GPU, "12", "2")]
    whole, _ = run(samples, end=3 * HOUR)

    state = NamespaceState()
    parts = {}
    for start in (0, HOUR, 2 * HOUR):
        inside = [item for item in samples if start <= item.time < start + HOUR]
        part, state = run(inside, start=start, end=start + HOUR, state=state)
        parts.update(part)

    assert parts == whole
