"""Offline benchmark on given train / valid / test files (the ``python -m recsys benchmark`` contract).

Rules (the shared benchmark protocols, ``shared/benchmarks/README.md``):

- One id map over all files; ids are read as strings.
- Models are fit on train only; valid (when given) is for tuning and early stopping;
  train is the scoring history.
- Test candidates are every item of the split except the user's train and valid items
  (full ranking; an item seen only in test is still a candidate).
- Without valid and with tuning, validation is carved from train (each user's last
  interaction by time, else a seeded random one), the grid is tuned on it and the
  chosen parameters are refit on all of train.
- Test users without train history get train popularity (unless the model declares
  ``cold_start_users``), since a history-based model has nothing to score them by.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from recsys.data.dataset import Dataset
    from recsys.evaluation.splits import Split
    from recsys.models.base import Recommender
    from recsys.models.registry import ModelSpec

# Engine imports (torch among them) happen inside the functions, so that `--help`, which
# shows TUNING_GRIDS, stays fast.

METRICS_FILE = "metrics.json"
ID_COLUMNS = ("user_id", "item_id")
OPTIONAL_COLUMNS = ("timestamp", "value")
HEADLINE_KS = (10, 20)
TUNE_METRIC = "ndcg@10"
DEFAULT_TUNE_BUDGET_S = 600.0

# Small grids (full products). Points are tried nearest-to-the-defaults first (the defaults,
# then one parameter changed, then two...) until the per-model budget runs out, so a short
# budget still sweeps each parameter once; the best validation NDCG@10 wins. A model without
# a grid (or with a single point) keeps its defaults and is not tuned at all.
TUNING_GRIDS: dict[str, list[dict]] = {
    "popularity": [{}],
    "trending": [{"half_life_days": h} for h in (1.0, 7.0, 30.0, 365.0)],
    "ease": [{"regularization": lam} for lam in (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0)],
    # Item-kNN: near the defaults only. On MovieLens leave-last-out every point from 50 to 200
    # neighbours and shrink 0 to 10 is within validation noise of the others, and a wide grid
    # (20 or 500 neighbours, shrink 50) mostly buys a lucky validation draw that does not hold.
    "itemknn": [{"n_neighbors": n, "shrink": s} for n in (50, 100, 200) for s in (0.0, 2.0, 10.0)],
    "als": [{"factors": f, "regularization": r, "alpha": a}
            for f in (32, 64, 128) for r in (0.01, 0.1, 1.0) for a in (1.0, 2.0, 5.0, 10.0)],
    # BPR: uniform negatives suit dense catalogs, popularity-weighted (power 0.5) long tails;
    # more factors help on dense data. Regularisation matters less once the step size decays.
    "bpr": [{"negative_power": p, "factors": f, "regularization": r}
            for p in (0.0, 0.5) for f in (64, 128) for r in (0.005, 0.02)],
    # Sequential models: one fit is minutes on 2 CPU cores, so a short budget tries the
    # defaults and a step either side in dropout (the knob that tracks data size) first.
    "sasrec": [{"dropout": d, "learning_rate": lr} for d in (0.2, 0.3, 0.5) for lr in (1e-3, 2e-3)],
    "gru4rec": [{"hidden_size": h, "dropout": d, "learning_rate": lr}
                for h in (128, 256) for d in (0.1, 0.2, 0.3) for lr in (2e-3, 5e-3)],
}


class BenchmarkError(ValueError):
    """A bad benchmark request (missing file or column, unknown model...), one line."""


@dataclass(frozen=True)
class BenchmarkData:
    """Train / valid / test events in one pair of id maps."""

    train: "Dataset"
    valid: "Dataset | None"
    test: "Dataset"

    @property
    def users(self):
        return self.train.users

    @property
    def items(self):
        return self.train.items

    def test_split(self) -> "Split":
        """The split scored at the end: relevance = test items not in train + valid."""
        from recsys.evaluation.splits import Split

        return Split(self.train, self.test, self.valid, "benchmark", {}, refit_with_valid=False)

    def test_users(self) -> np.ndarray:
        return np.unique(self.test.frame["user_idx"].to_numpy())


@dataclass
class ModelResult:
    """One model's outcome: the metrics.json entry and its ranked lists (raw ids)."""

    key: str
    metrics: dict
    ranked: pd.DataFrame | None = None
    tuning: list[dict] = field(default_factory=list)


# ----- reading ---------------------------------------------------------------------------------

def read_interactions(path: str | Path) -> pd.DataFrame:
    """A benchmark CSV: ``user_id,item_id[,timestamp][,value]`` with ids as strings."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"file not found: {path}")
    frame = pd.read_csv(path, dtype={"user_id": str, "item_id": str})
    missing = [c for c in ID_COLUMNS if c not in frame.columns]
    if missing:
        raise BenchmarkError(f"{path.name} lacks column(s) {', '.join(missing)} "
                             f"(has {', '.join(map(str, frame.columns))})")
    frame = frame[[c for c in (*ID_COLUMNS, *OPTIONAL_COLUMNS) if c in frame.columns]]
    if frame[list(ID_COLUMNS)].isna().any().any():
        raise BenchmarkError(f"{path.name} has empty user_id or item_id values")
    return frame


def load_benchmark_data(train: str | Path, test: str | Path, valid: str | Path | None = None) -> BenchmarkData:
    """Read the files and index them with one shared id map (train ids first)."""
    from recsys.data.dataset import Dataset

    parts = {"train": read_interactions(train), "test": read_interactions(test)}
    if valid is not None:
        parts["valid"] = read_interactions(valid)
    # Time only when every file has it, so no part mixes timed and untimed events.
    for col in OPTIONAL_COLUMNS:
        if not all(col in p.columns for p in parts.values()):
            parts = {name: p.drop(columns=[col], errors="ignore") for name, p in parts.items()}
    if "timestamp" in parts["train"].columns:
        for name, p in parts.items():
            parts[name] = p.assign(timestamp=_as_unix_seconds(p["timestamp"], name))
    names = list(parts)
    combined = pd.concat([p.assign(_part=names.index(n)) for n, p in parts.items()], ignore_index=True)
    data = Dataset.from_tables(combined)
    part = data.frame["_part"].to_numpy()
    frame = data.frame.drop(columns="_part")
    pieces = {n: data.with_frame(frame.loc[part == i]) for i, n in enumerate(names)}
    if pieces["train"].n_events == 0:
        raise BenchmarkError("the train file has no rows")
    return BenchmarkData(pieces["train"], pieces.get("valid"), pieces["test"])


def _as_unix_seconds(values: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values):
        if values.isna().any():
            raise BenchmarkError(f"{name} has empty timestamps")
        return values.astype(np.int64).to_numpy()
    parsed = pd.to_datetime(values, errors="coerce", utc=True)
    if parsed.isna().any():
        raise BenchmarkError(f"{name} has timestamps that are neither Unix seconds nor dates")
    return parsed.dt.tz_localize(None).astype("datetime64[s]").astype(np.int64).to_numpy()


def carve_validation(train: "Dataset", seed: int = 0) -> tuple["Dataset", "Dataset"]:
    """Hold out one item per user (with at least two distinct items) from ``train``.

    The last interaction by time when there are timestamps (frame order is time order),
    else a seeded random one. Every event of the held-out (user, item) pair leaves train,
    so the held-out item is new to the user.
    """
    f = train.frame
    users, items = f["user_idx"].to_numpy(), f["item_idx"].to_numpy()
    keys = users.astype(np.int64) * max(train.n_items, 1) + items
    n_distinct = np.bincount(np.unique(keys) // max(train.n_items, 1), minlength=train.n_users)
    rows = np.flatnonzero(n_distinct[users] >= 2)
    if train.has_timestamps:
        rows = rows[::-1]  # first occurrence per user below = the user's last event
    else:
        rows = rows[np.argsort(np.random.default_rng(seed).random(len(rows)), kind="stable")]
    _, first = np.unique(users[rows], return_index=True)
    held = np.sort(rows[first])
    on_pair = np.isin(keys, keys[held])
    return train.with_frame(f.loc[~on_pair]), train.with_frame(f.iloc[held])


# ----- running -----------------------------------------------------------------------------------

def check_models(keys: Sequence[str], data: BenchmarkData | None = None) -> list["ModelSpec"]:
    """The registry specs of ``keys``; BenchmarkError naming the unknown or unusable ones."""
    from recsys.models.registry import REGISTRY, availability, get_spec

    unknown = [k for k in keys if k.lower() not in REGISTRY]
    if unknown:
        raise BenchmarkError(f"unknown model(s) {', '.join(unknown)}; available: {', '.join(REGISTRY)}")
    specs = [get_spec(k) for k in keys]
    if data is not None:
        for spec in specs:
            ok, why = availability(spec, has_timestamps=data.train.has_timestamps, has_item_text=False)
            if not ok:
                raise BenchmarkError(f"model {spec.key} cannot run on these files: {why}")
    return specs


def usable_models(data: BenchmarkData) -> list["ModelSpec"]:
    """Every registered model that can run on these files (no item text here)."""
    from recsys.models.registry import REGISTRY, availability

    return [spec for spec in REGISTRY.values()
            if availability(spec, has_timestamps=data.train.has_timestamps, has_item_text=False)[0]]


def benchmark_model(
    data: BenchmarkData,
    key: str,
    *,
    k: int = 20,
    device: str = "auto",
    tune: bool = False,
    tune_budget_s: float = DEFAULT_TUNE_BUDGET_S,
    params: dict | None = None,
    seed: int = 0,
    log: Callable[[str], None] = lambda _: None,
) -> ModelResult:
    """Tune (optionally), fit on train, rank every test user's candidates and score the lists."""
    from recsys.evaluation.evaluate import evaluate_recommendations
    from recsys.models.registry import get_spec
    from recsys.training.device import describe_device, resolve_device
    from recsys.training.options import FitOptions

    spec = get_spec(key)
    resolved = resolve_device(device)
    chosen = dict(params or {})
    tuning: list[dict] = []
    tune_seconds = 0.0
    # A model without a grid has nothing to choose: a validation fit would only cost time.
    if tune and spec.key in TUNING_GRIDS and len(tuning_order(spec, TUNING_GRIDS[spec.key])) > 1:
        start = time.monotonic()
        chosen, tuning = tune_model(data, spec, device=str(resolved), budget_s=tune_budget_s, seed=seed,
                                    base=chosen, log=log)
        tune_seconds = time.monotonic() - start
    model = spec.create(**chosen)
    log(f"{spec.key}: fitting on train ({data.train.n_events:,} events) with {chosen or 'defaults'}")
    start = time.monotonic()
    model.fit(data.train, options=FitOptions(device=str(resolved), seed=seed, validation=data.valid))
    train_seconds = time.monotonic() - start
    kmax = max(int(k), *HEADLINE_KS)
    users = data.test_users()
    start = time.monotonic()
    items, scores = rank_items(model, data, users, kmax)
    score_seconds = time.monotonic() - start
    split = data.test_split()
    evaluation = evaluate_recommendations(items, users, split, ks=sorted({*HEADLINE_KS, int(k)}))
    metrics = summarize(evaluation.summary, int(k))
    metrics.update(train_seconds=train_seconds, score_seconds=score_seconds, tune_seconds=tune_seconds,
                   device=describe_device(resolved), params=model.get_params(), k=int(k),
                   n_cold_users=int(len(_cold_users(data, users))), tuning=tuning)
    return ModelResult(spec.key, metrics, ranked_frame(data, users, items, scores, int(k)), tuning)


def tune_model(data: BenchmarkData, spec: "ModelSpec", *, device: str, budget_s: float, seed: int,
               base: dict | None = None, log: Callable[[str], None] = lambda _: None) -> tuple[dict, list[dict]]:
    """Try the model's grid on validation (given or carved) and return the best parameters."""
    from recsys.evaluation.evaluate import evaluate_model
    from recsys.evaluation.splits import Split
    from recsys.training.options import FitOptions

    if data.valid is not None:
        fit_part, valid_part = data.train, data.valid
    else:
        fit_part, valid_part = carve_validation(data.train, seed)
    split = Split(fit_part, valid_part, None, "benchmark-tune", {}, refit_with_valid=False)
    grid = tuning_order(spec, [{**(base or {}), **point} for point in TUNING_GRIDS.get(spec.key, [{}])])
    trials: list[dict] = []
    start = time.monotonic()
    for point in grid:
        spent = time.monotonic() - start
        last = trials[-1]["fit_seconds"] + trials[-1]["eval_seconds"] if trials else 0.0
        if trials and spent + last > budget_s:
            log(f"{spec.key}: tuning budget reached after {len(trials)} of {len(grid)} points")
            break
        model = spec.create(**point)
        t0 = time.monotonic()
        model.fit(fit_part, options=FitOptions(device=device, seed=seed, validation=valid_part))
        t1 = time.monotonic()
        value = evaluate_model(model, split, ks=(10,), on="test").summary[TUNE_METRIC]
        trials.append({"params": model.get_params(), f"valid_{TUNE_METRIC}": _finite(value),
                       "fit_seconds": t1 - t0, "eval_seconds": time.monotonic() - t1})
        log(f"{spec.key}: {point or 'defaults'} -> valid {TUNE_METRIC} {value:.4f} ({t1 - t0:.1f}s)")
    best = max(range(len(trials)), key=lambda i: trials[i][f"valid_{TUNE_METRIC}"] or -1.0)
    return dict(grid[best]), trials


def tuning_order(spec: "ModelSpec", grid: list[dict]) -> list[dict]:
    """The defaults first (so tuning never ends below them), then the grid points by how
    many parameters differ from the defaults (stable), without repeats."""
    defaults = spec.defaults()
    names = {name for point in grid for name in point}
    unique: list[dict] = []
    for point in [{}, *grid]:  # {}: the defaults
        full = {n: v for n, v in {**defaults, **point}.items() if n in names}
        if full not in unique:
            unique.append(full)
    return sorted(unique, key=lambda p: sum(defaults.get(n) != v for n, v in p.items()))


def rank_items(model: "Recommender", data: BenchmarkData, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` item indices and scores per user ((n, k), -1 / NaN padded), train + valid excluded."""
    exclude = data.valid.matrix(binary=True) if data.valid is not None else None
    recs = model.recommend(users, k, exclude_seen=True, exclude=exclude)
    items = np.full((len(users), k), -1, np.int64)
    scores = np.full((len(users), k), np.nan, np.float64)
    row = pd.Index(users).get_indexer(np.asarray(recs.user_idx))
    items[row, recs.rank - 1] = recs.item_idx
    scores[row, recs.rank - 1] = recs.score
    cold = _cold_users(data, users)
    if len(cold) and "cold_start_users" not in type(model).capabilities:
        rows = pd.Index(users).get_indexer(cold)
        items[rows], scores[rows] = _popularity_lists(data, cold, k)
    return items, scores


def _cold_users(data: BenchmarkData, users: np.ndarray) -> np.ndarray:
    counts = np.bincount(data.train.frame["user_idx"].to_numpy(), minlength=data.train.n_users)
    return users[counts[users] == 0]


def _popularity_lists(data: BenchmarkData, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Train popularity (distinct users per item) minus each user's valid items."""
    pop = data.train.item_popularity()
    scores = np.broadcast_to(pop, (len(users), len(pop))).copy()
    if data.valid is not None:
        seen = data.valid.matrix(binary=True)[users].tocoo()
        scores[seen.row, seen.col] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    items = np.full((len(users), k), -1, np.int64)
    values = np.full((len(users), k), np.nan, np.float64)
    finite = np.isfinite(top_scores)
    items[:, : top.shape[1]] = np.where(finite, top, -1)
    values[:, : top.shape[1]] = np.where(finite, top_scores, np.nan)
    return items, values


def ranked_frame(data: BenchmarkData, users: np.ndarray, items: np.ndarray, scores: np.ndarray,
                 k: int) -> pd.DataFrame:
    """``user_id,item_id,rank,score`` for the top ``k`` of each user (raw ids)."""
    items, scores = items[:, :k], scores[:, :k]
    keep = items >= 0
    rows, cols = np.nonzero(keep)
    return pd.DataFrame({
        "user_id": data.users.to_raw(users[rows]).astype(str),
        "item_id": data.items.to_raw(items[rows, cols]).astype(str),
        "rank": (cols + 1).astype(np.int64),
        "score": scores[rows, cols].astype(np.float64),
    })


def summarize(summary: dict, k: int) -> dict:
    """The metrics.json block: every metric at 10 and 20 (and ``k``), ``mrr`` and ``coverage`` at ``k``."""
    out: dict = {}
    for kk in sorted({*HEADLINE_KS, k}):
        for name in ("ndcg", "recall", "precision", "map", "mrr", "hit", "coverage"):
            out[f"{name}@{kk}"] = _finite(summary.get(f"{name}@{kk}"))
    out["mrr"] = out[f"mrr@{k}"]
    out["coverage"] = out[f"coverage@{k}"]
    out["n_users"] = int(summary.get("n_users", 0))
    return out


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ----- the whole command ------------------------------------------------------------------------

def run_benchmark(
    train: str | Path,
    test: str | Path,
    models: Sequence[str] | None,
    out_dir: str | Path,
    *,
    valid: str | Path | None = None,
    k: int = 20,
    device: str = "auto",
    tune: bool = False,
    tune_budget_s: float = DEFAULT_TUNE_BUDGET_S,
    seed: int = 0,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, dict]:
    """Benchmark ``models`` and write ``<model>.csv`` files and ``metrics.json`` to ``out_dir``.

    ``models=None`` means every registered model that can run on these files. A model that
    fails gets ``{"error": ...}`` in metrics.json and the others still run. Returns the
    metrics mapping (model key -> metrics).
    """
    from recsys.training.device import resolve_device

    if k < 1:
        raise BenchmarkError("k must be at least 1")
    if models is not None:
        check_models(models)
    resolve_device(device)
    data = load_benchmark_data(train, test, valid)
    specs = check_models(models, data) if models is not None else usable_models(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log(f"{data.train.n_users:,} users, {data.train.n_items:,} items; train {data.train.n_events:,}, "
        f"valid {data.valid.n_events if data.valid is not None else 0:,}, test {data.test.n_events:,} events")
    results: dict[str, dict] = {}
    for spec in specs:
        try:
            result = benchmark_model(data, spec.key, k=k, device=device, tune=tune, tune_budget_s=tune_budget_s,
                                     seed=seed, log=log)
        except Exception as exc:  # noqa: BLE001 - one model's failure must not lose the others
            results[spec.key] = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
            log(f"{spec.key}: failed: {results[spec.key]['error']}")
        else:
            result.ranked.to_csv(out / f"{spec.key}.csv", index=False)
            results[spec.key] = result.metrics
            log(f"{spec.key}: ndcg@10 {result.metrics['ndcg@10']:.4f}, recall@{k} "
                f"{result.metrics[f'recall@{k}']:.4f}, train {result.metrics['train_seconds']:.1f}s")
        _write_json(out / METRICS_FILE, results)
    return results


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default))
    tmp.replace(path)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def grids_help() -> str:
    """The tuning grids as text (for ``--help`` and the README)."""
    lines = []
    for key, grid in TUNING_GRIDS.items():
        names = sorted({n for point in grid for n in point})
        values = {n: sorted({p[n] for p in grid if n in p}) for n in names}
        text = " x ".join(f"{n} in {{{', '.join(f'{v:g}' for v in vals)}}}" for n, vals in values.items())
        lines.append(f"  {key}: {text or 'defaults (nothing to tune)'}")
    return "\n".join(lines)
