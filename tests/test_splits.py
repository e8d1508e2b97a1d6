"""Splits: no future leakage, held-out items never seen, determinism, clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import Dataset
from recsys.evaluation.splits import (PROTOCOLS, Split, item_cold_split, leave_last_out, make_split,
                                      random_holdout, recbole_split_sizes, temporal_split, user_cold_split)


def event_log(seed: int = 0, n: int = 1500, with_time: bool = True) -> Dataset:
    """Repeated (user, item) events of several types; coarse timestamps force ties."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "user_id": rng.integers(0, 60, n).astype(str),
        "item_id": rng.integers(0, 40, n).astype(str),
        "event_type": rng.choice(["view", "click", "add_to_cart", "purchase"], n),
    })
    if with_time:
        frame["timestamp"] = 1_700_000_000 + rng.integers(0, 300, n) * 3600
    return Dataset.from_tables(frame)


def pairs(data: Dataset) -> set[tuple[int, int]]:
    return set(zip(data.frame["user_idx"].tolist(), data.frame["item_idx"].tolist()))


def times_by_user(data: Dataset, how: str) -> pd.Series:
    return data.frame.groupby("user_idx")["timestamp"].agg(how)


# ----- leave-last-out -------------------------------------------------------

def test_leave_last_out_by_hand():
    t = 1_700_000_000
    frame = pd.DataFrame({
        "user_id": ["u1"] * 5 + ["u2"] * 3,
        "item_id": ["A", "B", "A", "C", "B", "A", "B", "A"],
        "event_type": ["view", "view", "purchase", "view", "purchase", "view", "view", "view"],
        "timestamp": [t + 1, t + 2, t + 3, t + 4, t + 5, t + 1, t + 2, t + 3],
    })
    data = Dataset.from_tables(frame)
    split = leave_last_out(data, with_valid=True, min_events=3)
    raw = lambda d: sorted(zip(data.users.to_raw(d.frame["user_idx"]), data.items.to_raw(d.frame["item_idx"]),
                               d.frame["timestamp"] - t))
    # u1's last event is on B: every B event leaves train; the test keeps the last one (t+5).
    assert raw(split.test) == [("u1", "B", 5)]
    # From what remains (A@1, A@3, C@4) the last item, C, is validation.
    assert raw(split.valid) == [("u1", "C", 4)]
    # u2 has only 2 distinct items: kept whole in train, not evaluated.
    assert raw(split.train) == [("u1", "A", 1), ("u1", "A", 3), ("u2", "A", 1), ("u2", "A", 3), ("u2", "B", 2)]
    assert split.params["n_dropped_events"] == 1
    assert split.params["n_users_too_short"] == 1
    assert split.eval_users().tolist() == [data.users.index_of(["u1"])[0]]
    # Refit on train + valid (the benchmark's rule); test excludes both.
    assert split.fit_data().n_events == 6
    seen = split.seen_for_test()
    u1 = data.users.index_of(["u1"])[0]
    assert sorted(data.items.to_raw(seen[u1].indices)) == ["A", "C"]


@pytest.mark.parametrize("with_valid", [True, False])
def test_leave_last_out_on_an_event_log(with_valid):
    data = event_log()
    split = leave_last_out(data, with_valid=with_valid)
    f = data.frame
    test = split.test.frame
    assert test["user_idx"].is_unique
    for part in [split.test] + ([split.valid] if with_valid else []):
        # The held-out item is in neither train nor (for test) valid.
        assert not pairs(part) & pairs(split.train)
    if with_valid:
        assert not pairs(split.test) & pairs(split.valid)
    # The test event is the user's last event.
    last = f.groupby("user_idx").tail(1).set_index("user_idx")["item_idx"]
    assert (test.set_index("user_idx")["item_idx"] == last.loc[test["user_idx"]]).all()
    # No leakage: every train event of a held-out user happens no later than the held-out ones.
    held = split.valid.frame if with_valid else test
    train_max = times_by_user(split.train, "max").loc[held["user_idx"]].to_numpy()
    assert (train_max <= held["timestamp"].to_numpy()).all()
    if with_valid:
        merged = split.valid.frame.merge(test, on="user_idx", suffixes=("_v", "_t"))
        assert (merged["timestamp_v"] <= merged["timestamp_t"]).all()
    # Every event is accounted for.
    n_held = split.test.n_events + (split.valid.n_events if with_valid else 0)
    assert split.train.n_events + n_held + split.params["n_dropped_events"] == data.n_events
    assert (np.diff(split.relevant().indptr)[test["user_idx"]] == 1).all()


def test_leave_last_out_rejects_too_small_min_events():
    with pytest.raises(ValueError, match="at least 3"):
        leave_last_out(event_log(), with_valid=True, min_events=2)


# ----- temporal ---------------------------------------------------------------

@pytest.mark.parametrize("valid_fraction", [0.0, 0.15])
def test_temporal_split_never_leaks_the_future(valid_fraction):
    data = event_log(1)
    split = temporal_split(data, test_fraction=0.2, valid_fraction=valid_fraction)
    train_ts = split.train.frame["timestamp"]
    test_ts = split.test.frame["timestamp"]
    assert train_ts.max() < test_ts.min()
    assert test_ts.min() >= split.params["cutoff"] > train_ts.max()
    if valid_fraction:
        valid_ts = split.valid.frame["timestamp"]
        assert train_ts.max() < valid_ts.min() and valid_ts.max() < test_ts.min()
    # Roughly the requested share lands after the cut-off (ties go to test).
    after = (data.frame["timestamp"] >= split.params["cutoff"]).mean()
    assert 0.2 <= after < 0.25


def test_temporal_split_excludes_and_counts_cold_users():
    t = 1_700_000_000
    frame = pd.DataFrame({
        "user_id": ["a", "a", "b", "b", "c", "c", "d"],
        "item_id": ["x", "y", "x", "z", "y", "z", "x"],
        "timestamp": [t, t + 10, t + 1, t + 2, t + 20, t + 21, t + 22],
    })
    data = Dataset.from_tables(frame)
    split = temporal_split(data, cutoff=t + 10)
    # a has train history; c and d first appear after the cut-off: cold, dropped.
    test_users = set(data.users.to_raw(split.test.frame["user_idx"]))
    assert test_users == {"a"}
    assert split.params["n_cold_test_users"] == 2 and split.params["n_cold_test_events"] == 3
    assert split.params["test_fraction"] is None and split.params["cutoff"] == t + 10
    assert split.eval_users().tolist() == data.users.index_of(["a"]).tolist()


def test_temporal_relevance_drops_repeat_items():
    t = 1_700_000_000
    frame = pd.DataFrame({
        "user_id": ["a", "a", "a", "b", "b"],
        "item_id": ["x", "x", "y", "x", "x"],
        "timestamp": [t, t + 10, t + 11, t + 1, t + 12],
    })
    data = Dataset.from_tables(frame)
    split = temporal_split(data, cutoff=t + 10)
    rel = split.relevant()
    a, b = data.users.index_of(["a", "b"])
    assert data.items.to_raw(rel[a].indices).tolist() == ["y"]  # x was bought before: not relevant
    assert rel[b].nnz == 0
    assert split.eval_users().tolist() == [a]  # b, left with nothing new, is not evaluated


def test_temporal_split_refuses_empty_parts():
    data = event_log()
    with pytest.raises(ValueError, match="empty"):
        temporal_split(data, cutoff=0)


# ----- random -------------------------------------------------------------------

def _recbole_sizes_scalar(n, ratios):
    """RecBole's rounding (Dataset._calcu_split_ids), written out for one group."""
    cnt = [int(r * n) for r in ratios]
    cnt[0] = n - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * n < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.7, 0.1, 0.2), (0.8, 0.0, 0.2), (0.5, 0.25, 0.25)])
def test_recbole_split_sizes_match_the_scalar_rule(ratios):
    n = np.arange(0, 80)
    expected = np.array([_recbole_sizes_scalar(int(v), ratios) for v in n])
    assert np.array_equal(recbole_split_sizes(n, ratios), expected)


def test_random_holdout_keeps_pairs_whole_and_uses_recbole_sizes():
    data = event_log(2)
    split = random_holdout(data, test_fraction=0.1, valid_fraction=0.1, seed=7)
    tr, va, te = pairs(split.train), pairs(split.valid), pairs(split.test)
    assert not tr & va and not tr & te and not va & te
    assert split.train.n_events + split.valid.n_events + split.test.n_events == data.n_events
    f = data.frame
    n_pairs = f.drop_duplicates(["user_idx", "item_idx"]).groupby("user_idx").size()
    sizes = recbole_split_sizes(n_pairs.to_numpy(), (0.8, 0.1, 0.1))
    for part, col in ((split.train, 0), (split.valid, 1), (split.test, 2)):
        got = part.frame.drop_duplicates(["user_idx", "item_idx"]).groupby("user_idx").size()
        assert np.array_equal(got.reindex(n_pairs.index, fill_value=0).to_numpy(), sizes[:, col])
    assert split.fit_data() is split.train  # RecBole fits on train only
    seen = split.seen_for_test()
    assert seen.multiply(split.valid.matrix(binary=True)).nnz == len(va)


def test_random_holdout_works_without_timestamps():
    split = make_split(event_log(with_time=False), "random", test_fraction=0.2, seed=1)
    assert split.test.n_events > 0 and not split.test.has_timestamps


# ----- all protocols ------------------------------------------------------------

@pytest.mark.parametrize("protocol, params", [
    ("leave_last_out", {}), ("temporal", {"valid_fraction": 0.1}), ("random", {"valid_fraction": 0.1, "seed": 3}),
])
def test_splits_are_deterministic(protocol, params):
    a, b = make_split(event_log(4), protocol, **params), make_split(event_log(4), protocol, **params)
    for part in ("train", "valid", "test"):
        pd.testing.assert_frame_equal(getattr(a, part).frame, getattr(b, part).frame)
    assert a.params == b.params


def test_random_seed_changes_the_split():
    data = event_log(4)
    assert pairs(random_holdout(data, seed=1).test) != pairs(random_holdout(data, seed=2).test)


@pytest.mark.parametrize("protocol", ["temporal", "leave_last_out", "leave-last-out"])
def test_time_protocols_refuse_data_without_timestamps(protocol):
    with pytest.raises(ValueError, match="no timestamps: use random"):
        make_split(event_log(with_time=False), protocol)


def test_unknown_protocol_is_named():
    with pytest.raises(ValueError, match="unknown split protocol 'kfold'.*leave_last_out"):
        make_split(event_log(), "kfold")
    assert set(PROTOCOLS) == {"leave_last_out", "temporal", "random", "user_cold", "item_cold"}


def test_split_parts_must_share_id_maps():
    a, b = event_log(0), event_log(5)
    with pytest.raises(ValueError, match="id maps"):
        Split(a, b, None, "random", {})


def test_valid_target_needs_a_valid_part():
    split = random_holdout(event_log(), test_fraction=0.2)
    with pytest.raises(ValueError, match="no validation"):
        split.relevant("valid")


# ----- cold start ------------------------------------------------------------

def five_customers() -> Dataset:
    t = 1_700_000_000
    return Dataset.from_tables(pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2", "u3", "u3", "u3", "u4", "u5"],
        "item_id": ["A", "B", "A", "B", "C", "C", "D", "A", "D", "E"],
        "timestamp": [t + 1, t + 2, t + 3, t + 1, t + 2, t + 1, t + 2, t + 3, t + 1, t + 5]}))


def raw_events(data: Dataset, part: Dataset) -> list[tuple[str, str, int]]:
    f = part.frame
    return sorted(zip(data.users.to_raw(f["user_idx"]), data.items.to_raw(f["item_idx"]),
                      (f["timestamp"] - 1_700_000_000).tolist()))


def test_user_cold_by_hand():
    data = five_customers()
    # seed 1 draws positions 1 and 2 of the 5 customers with events: u2 and u3 (np.random.default_rng(1))
    split = make_split(data, "user_cold", test_fraction=0.4, seed=1)
    assert raw_events(data, split.test) == [("u2", "B", 1), ("u2", "C", 2), ("u3", "A", 3), ("u3", "C", 1),
                                            ("u3", "D", 2)]
    assert raw_events(data, split.train) == [("u1", "A", 1), ("u1", "A", 3), ("u1", "B", 2), ("u4", "D", 1),
                                             ("u5", "E", 5)]
    assert data.users.to_raw(split.eval_users()).tolist() == ["u2", "u3"]
    assert split.params["n_cold_users"] == 2 and split.candidates is None and split.fit_data() is split.train
    # no leakage: the held-out customers have no train event at all
    assert not set(split.train.frame["user_idx"]) & set(split.test.frame["user_idx"])


def test_user_cold_onboarding_reveals_the_first_items():
    data = five_customers()
    split = user_cold_split(data, test_fraction=0.4, seed=1, onboarding=1)
    # u2's first item (B at t+1) and u3's (C at t+1) are the onboarding picks: in train, not relevant
    assert raw_events(data, split.test) == [("u2", "C", 2), ("u3", "A", 3), ("u3", "D", 2)]
    assert ("u2", "B", 1) in raw_events(data, split.train) and ("u3", "C", 1) in raw_events(data, split.train)
    relevant = split.relevant()
    assert sorted(zip(data.users.to_raw(relevant.nonzero()[0]), data.items.to_raw(relevant.nonzero()[1]))) == \
        [("u2", "C"), ("u3", "A"), ("u3", "D")]
    assert split.train.n_events + split.test.n_events == data.n_events


def test_item_cold_by_hand():
    data = five_customers()
    # seed 0 draws positions 3 and 4 of the 5 items with events: D and E
    split = make_split(data, "item_cold", test_fraction=0.4, seed=0)
    assert data.items.to_raw(split.candidates).tolist() == ["D", "E"]
    # u3 has train history (C, A); u4 (only D) and u5 (only E) are cold customers too: dropped, counted
    assert raw_events(data, split.test) == [("u3", "D", 2)]
    assert split.params["n_cold_test_users"] == 2 and split.params["n_cold_test_events"] == 2
    assert not set(split.train.frame["item_idx"]) & {3, 4}  # no event on a held-out item in train
    assert data.users.to_raw(split.eval_users()).tolist() == ["u3"]


@pytest.mark.parametrize("maker", [user_cold_split, item_cold_split])
def test_cold_splits_are_seeded_and_refuse_bad_shares(maker):
    data = event_log()
    a, b, c = maker(data, seed=3), maker(data, seed=3), maker(data, seed=4)
    assert pairs(a.test) == pairs(b.test) and pairs(a.test) != pairs(c.test)
    with pytest.raises(ValueError, match="test_fraction"):
        maker(data, test_fraction=1.0)


def test_item_cold_evaluation_ranks_only_the_held_out_items():
    from recsys.evaluation.evaluate import evaluate_model
    from recsys.models.registry import create

    data = event_log()
    split = item_cold_split(data, test_fraction=0.25, seed=0)
    model = create("popularity").fit(split.fit_data())
    recs = model.recommend(split.eval_users(), 5, exclude_seen=False, exclude=split.seen_for(),
                           candidates=split.candidates)
    assert set(recs.item_idx) <= set(split.candidates)
    result = evaluate_model(model, split, ks=(5,))
    assert result.summary["n_users"] == len(split.eval_users()) > 0
    # popularity has nothing to go on among items without train events: every candidate scores the same
    assert np.ptp(model.score([0], split.candidates)) == 0
