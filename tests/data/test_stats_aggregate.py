"""Per-episode stats folded one episode at a time equal the stats of all frames at once."""

import numpy as np
import pytest

from physai.data.stats import DatasetAggregate, EpisodeAggregate, aggregate, episode_stats


@pytest.mark.parametrize("offset,scale", [(0.0, 1.0), (1e6, 1e-3)])  # the second: no cancellation
def test_folded_stats_equal_pooled_stats(offset, scale):
    rng = np.random.default_rng(0)
    eps = [offset + scale * rng.normal(size=(int(rng.integers(1, 40)), 3)) for _ in range(25)]
    agg = EpisodeAggregate()
    for e in eps:
        agg.add(episode_stats(e))
    got, every = agg.result(), np.concatenate(eps)
    np.testing.assert_allclose(got["mean"], every.mean(0), rtol=1e-12)
    np.testing.assert_allclose(got["std"], every.std(0), rtol=1e-6)
    np.testing.assert_array_equal(got["min"], every.min(0))
    np.testing.assert_array_equal(got["max"], every.max(0))
    assert int(got["count"][0]) == len(every)
    same = aggregate([episode_stats(e) for e in eps])  # the list form folds the same way
    np.testing.assert_array_equal(same["std"], got["std"])


def test_dataset_aggregate_keeps_only_features_every_episode_has():
    rng = np.random.default_rng(1)
    d = DatasetAggregate()
    d.add({"a": episode_stats(rng.normal(size=(5, 2))), "b": episode_stats(rng.normal(size=(5, 1)))})
    d.add({"a": episode_stats(rng.normal(size=(4, 2)))})
    d.add({"a": episode_stats(rng.normal(size=(3, 2))), "b": episode_stats(rng.normal(size=(3, 1)))})
    assert list(d.result()) == ["a"]
    assert int(d.result()["a"]["count"][0]) == 12
