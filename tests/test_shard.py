"""Shards partition any grid exactly, the same way everywhere, and balanced by estimated cost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbench.core.spec import SweepSpec
from rnnbench.errors import ConfigError
from rnnbench.measure.runner import group_by_shape
from rnnbench.measure.shard import estimated_cost, parse_shard, partition, shard_of

grids = st.builds(
    SweepSpec,
    arch=st.lists(st.sampled_from(["lstm", "gru", "rnn"]), min_size=1, max_size=3, unique=True).map(tuple),
    impl=st.lists(
        st.sampled_from(["native", "aten", "scratch", "cell"]), min_size=1, max_size=2, unique=True
    ).map(tuple),
    mode=st.lists(
        st.sampled_from(["inference", "forward", "backward", "train"]), min_size=1, max_size=3, unique=True
    ).map(tuple),
    seq_len=st.lists(st.integers(1, 512), min_size=1, max_size=4, unique=True).map(tuple),
    hidden_size=st.lists(st.integers(1, 2048), min_size=1, max_size=4, unique=True).map(tuple),
    batch_size=st.lists(st.integers(1, 128), min_size=1, max_size=2, unique=True).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(grid=grids, n=st.integers(1, 9))
def test_shards_partition_the_grid_exactly(grid: SweepSpec, n: int) -> None:
    cases = grid.expand()
    shards = partition(cases, n)
    assert len(shards) == n
    flat = [c for shard in shards for c in shard]
    assert len(flat) == len(cases) and set(flat) == set(cases)  # every case in exactly one shard
    assert partition(grid.expand(), n) == shards  # the same partition on every machine
    for shard in shards:  # grid order kept, and the architectures of one shape stay together
        positions = [cases.index(c) for c in shard]
        assert positions == sorted(positions)
    owner = {c: i for i, shard in enumerate(shards) for c in shard}
    for group in group_by_shape(cases):
        assert len({owner[c] for c in group}) == 1
    costs = [sum(estimated_cost(c) for c in shard) for shard in shards]
    biggest_group = max(sum(estimated_cost(c) for c in g) for g in group_by_shape(cases))
    assert max(costs) - min(costs) <= biggest_group + 1e-6  # LPT balance bound


def test_shard_of_is_one_based() -> None:
    cases = SweepSpec(seq_len=(1, 2, 3, 4)).expand()
    assert shard_of(cases, 1, 1) == cases
    assert shard_of(cases, 2, 2) == partition(cases, 2)[1]


@pytest.mark.parametrize("text", ["0/4", "5/4", "a/b", "3", "1/0", ""])
def test_parse_shard_rejects_bad_values(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


def test_parse_shard() -> None:
    assert parse_shard("2/4") == (2, 4)
    assert parse_shard(" 1 / 1 ") == (1, 1)
