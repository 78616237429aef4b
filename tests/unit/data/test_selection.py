"""The seeded threshold selection: exact budgets, ties, groups, chunking."""

from __future__ import annotations

import numpy as np
import pytest

from bonepick.data.selection import KeyStream, Threshold, find_thresholds


def _sweep(keys_per_shard, groups_per_shard=None, weights_per_shard=None, chunk=7):
    def sweep():
        for shard, keys in enumerate(keys_per_shard):
            for start in range(0, len(keys), chunk):
                end = min(len(keys), start + chunk)
                groups = (
                    np.asarray(groups_per_shard[shard][start:end])
                    if groups_per_shard
                    else np.zeros(end - start, dtype=np.int64)
                )
                weights = (
                    np.asarray(weights_per_shard[shard][start:end], dtype=float)
                    if weights_per_shard
                    else np.ones(end - start)
                )
                yield shard, start, keys[start:end], groups, weights

    return sweep


def _selected(thresholds, keys_per_shard, groups_per_shard=None):
    chosen = []
    for shard, keys in enumerate(keys_per_shard):
        groups = groups_per_shard[shard] if groups_per_shard else [0] * len(keys)
        for row, (key, group) in enumerate(zip(keys, groups, strict=True)):
            if thresholds[group].mask(np.array([key]), shard, row)[0]:
                chosen.append((shard, row))
    return chosen


def test_key_streams_do_not_depend_on_chunking() -> None:
    stream = KeyStream(3, "train/a.jsonl.zst")
    chunked = np.concatenate([stream.next(5), stream.next(1000), stream.next(3)])
    assert np.array_equal(chunked, KeyStream(3, "train/a.jsonl.zst").next(1008))
    assert not np.array_equal(chunked[:10], KeyStream(4, "train/a.jsonl.zst").next(10))
    assert not np.array_equal(chunked[:10], KeyStream(3, "train/b.jsonl.zst").next(10))


@pytest.mark.parametrize("budget", [0, 1, 17, 499, 500, 10_000])
def test_exact_count_is_the_smallest_keys(budget: int) -> None:
    rng = np.random.default_rng(0)
    shards = [rng.random(n) for n in (120, 0, 300, 80)]
    [threshold] = find_thresholds(_sweep(shards), [budget], 1)
    chosen = _selected([threshold], shards)
    assert len(chosen) == min(budget, 500)
    everything = sorted((k, s, r) for s, keys in enumerate(shards) for r, k in enumerate(keys))
    assert sorted(chosen) == sorted((s, r) for _, s, r in everything[: min(budget, 500)])


def test_ties_are_broken_by_shard_and_row() -> None:
    shards = [np.full(10, 0.5), np.full(10, 0.5)]
    [threshold] = find_thresholds(_sweep(shards), [13], 1)
    assert _selected([threshold], shards) == [(0, r) for r in range(10)] + [(1, 0), (1, 1), (1, 2)]


def test_weighted_budget_is_a_prefix_that_fits() -> None:
    rng = np.random.default_rng(1)
    shards = [rng.random(200), rng.random(150)]
    weights = [rng.integers(1, 1000, 200), rng.integers(1, 1000, 150)]
    [threshold] = find_thresholds(_sweep(shards, None, weights), [25_000], 1)
    chosen = set(_selected([threshold], shards))
    order = sorted((k, s, r) for s, keys in enumerate(shards) for r, k in enumerate(keys))
    total, expected = 0, set()
    for _k, s, r in order:
        if total + weights[s][r] > 25_000:
            break
        total += weights[s][r]
        expected.add((s, r))
    assert chosen == expected


def test_groups_get_their_own_budgets() -> None:
    rng = np.random.default_rng(2)
    shards = [rng.random(400), rng.random(100)]
    groups = [rng.integers(0, 3, 400), rng.integers(0, 3, 100)]
    thresholds = find_thresholds(_sweep(shards, groups), [10, 0, 1000], 3)
    chosen = _selected(thresholds, shards, groups)
    per_group = [sum(1 for s, r in chosen if groups[s][r] == g) for g in range(3)]
    total_of_2 = sum(int((g == 2).sum()) for g in groups)
    assert per_group == [10, 0, total_of_2]
    assert thresholds[2] == Threshold.everything()
