"""bench.stats.paced: every call is timed once per round, and the calls take turns going first after the pause."""

from __future__ import annotations

from collections import Counter

from bench.stats import paced


def test_each_call_goes_first_after_the_pause_in_turn() -> None:
    calls: list[str] = []
    actions = {name: (lambda name=name: calls.append(name)) for name in ("service", "raw", "floor")}
    stalls = dict.fromkeys(actions, lambda: 0)

    samples = paced(actions, 6, 0.0, stalls, warmup=0)

    rounds = [calls[i:i + 3] for i in range(0, len(calls), 3)]
    assert [sorted(r) for r in rounds] == [["floor", "raw", "service"]] * 6  # each once per round
    assert Counter(r[0] for r in rounds) == {"service": 2, "raw": 2, "floor": 2}
    assert [r[0] for r in rounds[:3]] == ["service", "raw", "floor"]
    assert {name: len(s.times) for name, s in samples.items()} == dict.fromkeys(actions, 6)


def test_a_stall_is_charged_to_the_call_it_happened_in() -> None:
    stalled = {"n": 0}

    def stalling() -> None:
        stalled["n"] += 1

    actions = {"service": stalling, "raw": lambda: None}
    samples = paced(actions, 4, 0.0, {"service": lambda: stalled["n"], "raw": lambda: 0}, warmup=0)
    assert samples["service"].stall_count() == 4 and samples["raw"].stall_count() == 0
