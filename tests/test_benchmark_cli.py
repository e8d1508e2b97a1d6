"""``python -m recsys benchmark``: the file contract, the candidate rule and the metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys.benchmark import TUNING_GRIDS, carve_validation, load_benchmark_data
from recsys.cli import main
from recsys.models.registry import get_spec

KS = (10, 20)
METRIC_KEYS = {f"{m}@{k}" for m in ("ndcg", "recall", "precision", "map", "mrr", "hit") for k in KS} | {
    "mrr", "coverage", "train_seconds", "score_seconds", "device", "params"}


@pytest.fixture
def split_dir(tmp_path):
    """Leave-last-out style files: ids with leading zeros, one test-only item, one cold test user."""
    rng = np.random.default_rng(4)
    n_items = 30
    pop = 1.0 / np.arange(1, n_items + 1)
    rows = []
    for u in range(40):
        items = rng.choice(n_items, size=9, replace=False, p=pop / pop.sum())
        rows += [(f"{u:04d}", f"{i:03d}", 1_000 + u * 100 + t) for t, i in enumerate(items)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    last = frame.groupby("user_id").cumcount(ascending=False)
    train, valid, test = frame[last >= 2], frame[last == 1], frame[last == 0].copy()
    test.iloc[0, 1] = "999"  # an item nobody has in train or valid
    test = pd.concat([test, pd.DataFrame([("0777", "001", 99_999)], columns=test.columns)])  # a cold user
    paths = {}
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        paths[name] = tmp_path / f"{name}.csv"
        part.to_csv(paths[name], index=False)
    return paths


def _bench(capsys, split_dir, out_dir, *extra, valid=True):
    argv = ["benchmark", "--train", str(split_dir["train"]), "--test", str(split_dir["test"]),
            "--out-dir", str(out_dir), "--quiet", *extra]
    if valid:
        argv += ["--valid", str(split_dir["valid"])]
    code = main(argv)
    return code, *capsys.readouterr()


def _reference_metrics(ranked: pd.DataFrame, test: pd.DataFrame, n_catalog: int, k: int) -> dict:
    """Straightforward per-user definitions (RecBole's), independent of recsys.evaluation."""
    truth = test.groupby("user_id")["item_id"].agg(set).to_dict()
    lists = ranked.sort_values(["user_id", "rank"]).groupby("user_id")["item_id"].agg(list).to_dict()
    out = {}
    for cut in sorted({*KS, k}):
        sums = dict.fromkeys(("ndcg", "recall", "precision", "map", "mrr", "hit"), 0.0)
        for user, relevant in truth.items():
            top = lists.get(user, [])[:cut]
            ranks = [r + 1 for r, item in enumerate(top) if item in relevant]
            if not ranks:
                continue
            ideal = sum(1 / np.log2(r + 1) for r in range(1, min(len(relevant), cut) + 1))
            sums["ndcg"] += sum(1 / np.log2(r + 1) for r in ranks) / ideal
            sums["recall"] += len(ranks) / len(relevant)
            sums["precision"] += len(ranks) / cut
            sums["map"] += sum((i + 1) / r for i, r in enumerate(ranks)) / min(len(relevant), cut)
            sums["mrr"] += 1 / ranks[0]
            sums["hit"] += 1
        out.update({f"{m}@{cut}": v / len(truth) for m, v in sums.items()})
        shown = {item for items in lists.values() for item in items[:cut]}
        out[f"coverage@{cut}"] = len(shown) / n_catalog
    return out


def test_benchmark_writes_the_contract_files_with_correct_metrics(split_dir, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, out, err = _bench(capsys, split_dir, out_dir, "--models", "popularity,itemknn,ease", "--k", "15")
    assert code == 0, err
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert list(metrics) == ["popularity", "itemknn", "ease"]
    read = {n: pd.read_csv(p, dtype={"user_id": str, "item_id": str}) for n, p in split_dir.items()}
    catalog = set(pd.concat([read[n]["item_id"] for n in read]))
    seen = pd.concat([read["train"], read["valid"]]).groupby("user_id")["item_id"].agg(set).to_dict()
    for key, m in metrics.items():
        assert METRIC_KEYS <= set(m), key
        ranked = pd.read_csv(out_dir / f"{key}.csv", dtype={"user_id": str, "item_id": str})
        assert list(ranked.columns) == ["user_id", "item_id", "rank", "score"]
        assert set(ranked["user_id"]) == set(read["test"]["user_id"])  # ids stay strings ("0007")
        assert (ranked.groupby("user_id")["rank"].agg(list) == [list(range(1, 16))] * ranked["user_id"].nunique()).all()
        assert set(ranked["item_id"]) <= catalog
        assert not any(i in seen.get(u, ()) for u, i in zip(ranked["user_id"], ranked["item_id"]))
        assert (ranked.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
        reference = _reference_metrics(ranked, read["test"], len(catalog), 15)
        for name, value in reference.items():
            if name.endswith("@20"):
                continue  # the CSV holds 15 per user; @20 is checked by the next test
            assert m[name] == pytest.approx(value, abs=1e-9), (key, name)
        assert m["mrr"] == m["mrr@15"] and m["coverage"] == m["coverage@15"]
        assert m["n_users"] == 41 and m["device"].startswith("cpu") and m["train_seconds"] >= 0
    assert metrics["ease"]["params"] == get_spec("ease").defaults()  # no --tune: the defaults
    # Popularity by hand: the 15 unseen items with the most train users (any order within ties).
    counts = read["train"].drop_duplicates().groupby("item_id").size().reindex(sorted(catalog), fill_value=0)
    ranked = pd.read_csv(out_dir / "popularity.csv", dtype={"user_id": str, "item_id": str})
    for user in ("0003", "0777"):
        got = ranked[ranked["user_id"] == user]
        unseen = counts.drop(list(seen.get(user, ())))
        assert got["score"].tolist() == sorted(unseen, reverse=True)[:15]
        assert got["score"].tolist() == counts[got["item_id"]].tolist()
    assert "popularity" in out and "ndcg@10" in out


def test_k20_lists_match_the_reference_and_test_only_items_are_candidates(split_dir, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, _, err = _bench(capsys, split_dir, out_dir, "--models", "itemknn", "--k", "40")
    assert code == 0, err
    m = json.loads((out_dir / "metrics.json").read_text())["itemknn"]
    ranked = pd.read_csv(out_dir / "itemknn.csv", dtype={"user_id": str, "item_id": str})
    test = pd.read_csv(split_dir["test"], dtype={"user_id": str, "item_id": str})
    reference = _reference_metrics(ranked, test, 31, 40)
    for name in ("ndcg@20", "recall@20", "map@20", "hit@20", "coverage@20", "mrr@40"):
        assert m[name] == pytest.approx(reference[name], abs=1e-9), name
    # 31 items, 7-9 seen per user: a list of up to 40 holds every unseen item, the test-only one too.
    assert "999" in set(ranked["item_id"])
    assert m["n_cold_users"] == 1


def test_tune_without_valid_carves_validation_and_refits(split_dir, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, _, err = _bench(capsys, split_dir, out_dir, "--models", "ease", "--tune", valid=False)
    assert code == 0, err
    m = json.loads((out_dir / "metrics.json").read_text())["ease"]
    tried = [t["params"]["regularization"] for t in m["tuning"]]
    default = get_spec("ease").defaults()["regularization"]
    grid = sorted(p["regularization"] for p in TUNING_GRIDS["ease"])
    assert tried[0] == default and sorted(tried) == sorted({default, *grid})  # the default first, then the grid
    best = max(m["tuning"], key=lambda t: t["valid_ndcg@10"])
    assert m["params"]["regularization"] == best["params"]["regularization"]
    assert len(pd.read_csv(out_dir / "ease.csv")) == 41 * 20


def test_carved_validation_is_each_users_last_item(split_dir):
    data = load_benchmark_data(split_dir["train"], split_dir["test"])
    fit_part, valid_part = carve_validation(data.train)
    train = pd.read_csv(split_dir["train"], dtype={"user_id": str, "item_id": str})
    last = train.sort_values("timestamp").groupby("user_id").tail(1)
    got = pd.DataFrame({"user_id": data.users.to_raw(valid_part.frame["user_idx"]),
                        "item_id": data.items.to_raw(valid_part.frame["item_idx"])})
    assert sorted(map(tuple, got.to_numpy())) == sorted(map(tuple, last[["user_id", "item_id"]].to_numpy()))
    assert fit_part.n_events + valid_part.n_events == data.train.n_events


def test_carved_validation_without_time_is_one_seeded_random_item_per_user(split_dir, tmp_path):
    for name in ("train", "test"):
        pd.read_csv(split_dir[name]).drop(columns="timestamp").to_csv(tmp_path / f"u_{name}.csv", index=False)
    data = load_benchmark_data(tmp_path / "u_train.csv", tmp_path / "u_test.csv")
    assert not data.train.has_timestamps
    _, first = carve_validation(data.train, seed=1)
    _, again = carve_validation(data.train, seed=1)
    _, other = carve_validation(data.train, seed=2)
    users = first.frame["user_idx"].to_numpy()
    assert len(users) == len(set(users)) == 40
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert not first.frame["item_idx"].equals(other.frame["item_idx"])


def test_unknown_model_exits_2_with_one_line(split_dir, tmp_path, capsys):
    code, out, err = _bench(capsys, split_dir, tmp_path / "out", "--models", "ease,nope")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("error: unknown model(s) nope; available: popularity")
    assert not (tmp_path / "out").exists()


def test_bad_files_exit_2(split_dir, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"user": ["1"], "item": ["2"]}).to_csv(bad, index=False)
    code, _, err = _bench(capsys, {**split_dir, "test": bad}, tmp_path / "out", "--models", "ease")
    assert code == 2 and "bad.csv lacks column(s) user_id, item_id" in err
    code, _, err = _bench(capsys, {**split_dir, "train": tmp_path / "none.csv"}, tmp_path / "out", "--models", "ease")
    assert code == 2 and "file not found" in err


def test_bench_readme_lists_the_tuning_grids(repo_root):
    """bench/README.md's grid table is the documentation of --tune: it must match TUNING_GRIDS."""
    import re

    text = (repo_root / "bench" / "README.md").read_text()
    documented = {}
    for key, grid in re.findall(r"^\| (\w+) \| ([^|]*\bin \{[^|]*) \|$", text, flags=re.M):
        documented[key] = {name: {float(v) for v in values.split(",")}
                           for name, values in re.findall(r"(\w+) in \{([^}]*)\}", grid)}
    actual = {key: {name: {float(p[name]) for p in grid} for name in grid[0]}
              for key, grid in TUNING_GRIDS.items() if grid[0]}
    assert documented == actual
