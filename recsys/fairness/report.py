"""The fairness report of one stored run: every table the page, the CLI and the HTML export show.

``fairness_report`` loads the run, recommends to its held-out customers and
builds the tables; ``build_report`` does the same from arrays (for runs already
in memory and for the benchmark); ``tradeoff_sweep`` re-ranks the run's
candidate lists at several strengths and measures what each costs and buys;
``write_report`` writes CSV tables and a self-contained HTML page.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import math
import pathlib
import time
import zipfile
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation import beyond
from recsys.evaluation.evaluate import evaluate_recommendations
from recsys.fairness.breakdown import MIN_SIZE, breakdowns, resampled_means
from recsys.fairness.calibration import ALPHA, genre_matrix, miscalibration
from recsys.fairness.exposure import (POPULARITY_TIER, aggregate_diversity, exposure_by_group, gini,
                                      item_exposure, item_groups, lorenz_curve, popularity_bias,
                                      popularity_tiers)
from recsys.fairness.groups import customer_groups
from recsys.fairness.rerank import CalibratedReranker, ExposureReranker, MMRReranker, Reranker, candidate_lists

if TYPE_CHECKING:
    from recsys.workspace import Workspace

ACCURACY = ("ndcg", "recall", "hit", "precision", "map", "mrr")
BEYOND = ("miscalibration", "avgpop", "long_tail_share")
DEFAULT_METRICS = ("ndcg", "recall", "hit")
# Which way is better for each per-customer metric (the "best" group of a breakdown).
HIGHER_IS_BETTER = {**{m: True for m in ACCURACY}, "miscalibration": False, "avgpop": False,
                    "long_tail_share": True}
METRIC_HELP = {
    "ndcg": "NDCG@K: how high the held-out item sits in the list (1 = first, 0 = absent)",
    "recall": "Recall@K: share of the customer's held-out items found in the top K",
    "hit": "Hit rate@K: share of customers with at least one held-out item in the top K",
    "precision": "Precision@K: share of the K slots holding a held-out item",
    "map": "MAP@K: precision averaged at the ranks of the held-out items",
    "mrr": "MRR@K: 1 / rank of the first held-out item",
    "miscalibration": "Miscalibration: KL divergence between the categories of the customer's history and "
                      "of their list (Steck 2018; 0 = same mix, lower is better)",
    "avgpop": "Average recommendation popularity: mean training events of the listed items",
    "long_tail_share": "Long-tail share: share of listed items in the popularity tail",
}
METHODS = ("calibrated", "exposure", "mmr")
LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)
N_CANDIDATES = 100


@dataclass(frozen=True)
class RunInputs:
    """What a report needs from a run: features, history, held-out items and candidate lists.

    ``candidates`` / ``scores`` (len(users), C) are the model's top-C lists, best
    first, for the evaluated ``users``; ``relevant`` (all users x items) marks
    their held-out items; ``history`` holds the events the model was fit on.
    """

    data: Dataset
    history: Dataset
    users: np.ndarray
    relevant: sp.csr_matrix
    candidates: np.ndarray
    scores: np.ndarray
    meta: dict = field(default_factory=dict)

    def history_rows(self) -> sp.csr_matrix:
        return self.history.matrix(binary=True)[self.users]

    def item_interactions(self) -> np.ndarray:
        """Training events per item (popularity as the model saw it)."""
        return np.bincount(self.history.frame["item_idx"].to_numpy(), minlength=self.data.n_items
                           ).astype(np.float64)


@dataclass(frozen=True)
class FairnessReport:
    """All tables of a fairness report.

    Attributes
    ----------
    meta : dict
        Run, dataset, model, K, groupings and settings (JSON-safe).
    per_user : DataFrame
        One row per evaluated customer: ids, group labels, metric values.
    groups : DataFrame
        Breakdown of every metric by every customer grouping (``group_breakdown``
        columns plus ``grouping`` and ``metric``).
    exposure : DataFrame
        Exposure of item groups against catalog and interaction shares.
    lorenz : DataFrame
        Lorenz curve of item exposure.
    summary : dict
        Overall figures: means, exposure Gini, aggregate diversity, popularity bias.
    tradeoff : DataFrame or None
        A re-ranking sweep (``tradeoff_sweep``), when one was run.
    notes : tuple of str
        Caveats a reader should see.
    """

    meta: dict
    per_user: pd.DataFrame
    groups: pd.DataFrame
    exposure: pd.DataFrame
    lorenz: pd.DataFrame
    summary: dict
    tradeoff: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    @property
    def calibration(self) -> pd.DataFrame:
        """Miscalibration by customer group."""
        return self.groups[self.groups["metric"] == "miscalibration"].reset_index(drop=True)

    def with_tradeoff(self, tradeoff: pd.DataFrame) -> "FairnessReport":
        return replace(self, tradeoff=tradeoff)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Named tables for export (CSV file stem -> frame)."""
        summary = pd.DataFrame({"measure": list(self.summary), "value": list(self.summary.values())})
        out = {"summary": summary, "groups": self.groups, "exposure": self.exposure,
               "lorenz": self.lorenz, "per_customer": self.per_user}
        if self.tradeoff is not None:
            out["tradeoff"] = self.tradeoff
        return out


# ----- inputs ------------------------------------------------------------------------------------

def run_inputs(workspace: "Workspace", run_id: str, *, n_candidates: int = N_CANDIDATES) -> RunInputs:
    """Load a run with its split and recommend top ``n_candidates`` to its held-out customers."""
    from recsys.runs import load_run

    loaded = load_run(workspace, run_id, with_split=True)
    if loaded.split is None:
        raise ValueError(f"run {run_id} was trained without a split: there is nothing held out to judge")
    split = loaded.split
    users = split.eval_users("test")
    recs = loaded.model.recommend(users, n_candidates, exclude_seen=False, exclude=split.seen_for("test"))
    candidates, scores = candidate_lists(recs, users, n_candidates)
    record = loaded.record
    meta = {"run_id": record.id, "model": record.display_name, "model_key": record.model_key,
            "dataset": record.dataset, "split": record.split_protocol, "n_candidates": n_candidates}
    return RunInputs(loaded.data, split.fit_data(), users, split.relevant("test"), candidates, scores, meta)


# ----- the report --------------------------------------------------------------------------------

def fairness_report(workspace: "Workspace", run_id: str, by: Sequence[str] = ("activity",), *, k: int = 10,
                    item_by: Sequence[str] | None = None, metrics: Sequence[str] = DEFAULT_METRICS,
                    n_boot: int = 1000, min_size: int = MIN_SIZE, level: float = 0.95, seed: int = 0,
                    inputs: RunInputs | None = None) -> FairnessReport:
    """The fairness report of stored run ``run_id`` (see ``build_report`` for the parameters).

    ``inputs`` reuses lists already computed by ``run_inputs`` for this run.
    """
    inputs = inputs or run_inputs(workspace, run_id, n_candidates=max(N_CANDIDATES, k))
    return build_report(inputs, by, k=k, item_by=item_by, metrics=metrics, n_boot=n_boot,
                        min_size=min_size, level=level, seed=seed)


def default_item_groupings(data: Dataset) -> list[str]:
    """Category, brand and content type when the catalog has them, plus popularity tiers."""
    from recsys.fairness.exposure import available_item_groupings

    available = available_item_groupings(data)
    preferred = [g for g in ("category", "brand", "content_type", "item_age") if g in available]
    return preferred + [POPULARITY_TIER]


def build_report(inputs: RunInputs, by: Sequence[str] = ("activity",), *, k: int = 10,
                 item_by: Sequence[str] | None = None, metrics: Sequence[str] = DEFAULT_METRICS,
                 genre_by: str = "category", n_boot: int = 1000, min_size: int = MIN_SIZE,
                 level: float = 0.95, seed: int = 0) -> FairnessReport:
    """Breakdowns by customer group, item-group exposure, calibration and popularity bias.

    Parameters
    ----------
    by : customer groupings (``recsys.fairness.groups``: attributes, "activity", "tenure", "a+b").
    k : list length judged (the top-k of the candidate lists).
    item_by : item groupings for exposure (default ``default_item_groupings``).
    metrics : accuracy metrics broken down (names from ``ACCURACY``); the beyond-accuracy
        ones (``BEYOND``) are always added.
    genre_by : item attribute whose values are the "genres" of calibration.
    n_boot, min_size, level, seed : see ``group_breakdown``.
    """
    data, users = inputs.data, np.asarray(inputs.users, dtype=np.int64)
    unknown = [m for m in metrics if m not in ACCURACY]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(ACCURACY)}")
    clock = _Clock()
    ranked = np.asarray(inputs.candidates, dtype=np.int64)[:, :k]
    interactions = inputs.item_interactions()
    notes: list[str] = []
    per_user = _per_user(inputs, ranked, users, k, metrics, interactions, genre_by, notes, clock)
    for spec in by:
        per_user[spec] = customer_groups(data, users, spec, history=inputs.history).labels
    clock.lap("customer groups")
    metric_columns = [c for c in per_user.columns if c.split("@")[0] in (*ACCURACY, *BEYOND)
                      and per_user[c].notna().any()]
    tables = []
    for spec in by:
        table = breakdowns({c: per_user[c].to_numpy(np.float64) for c in metric_columns},
                           per_user[spec].to_numpy(object), n_boot=n_boot, level=level, min_size=min_size,
                           seed=seed, higher_is_better={c: HIGHER_IS_BETTER[c.split("@")[0]]
                                                        for c in metric_columns})
        table.insert(0, "grouping", spec)
        tables.append(table)
    groups = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    clock.lap("breakdowns with bootstrap")
    item_specs = list(item_by) if item_by is not None else default_item_groupings(data)
    exposure = pd.concat([exposure_by_group(ranked, item_groups(data, spec, interactions=interactions),
                                            interactions) for spec in item_specs], ignore_index=True) \
        if item_specs else pd.DataFrame()
    item_exp = item_exposure(ranked, data.n_items)
    summary = _summary(per_user, metric_columns, ranked, item_exp, data.n_items, k)
    lorenz = lorenz_curve(item_exp)
    clock.lap("exposure and summary")
    if len(groups):
        small = groups.drop_duplicates(["grouping", "group"])
        n_small = int(small["too_small"].sum())
        if n_small:
            notes.append(f"{n_small} group(s) have fewer than {min_size} customers: shown, but too small to judge.")
    meta = {**inputs.meta, "k": int(k), "by": list(by), "item_by": item_specs, "metrics": list(metrics),
            "genre_by": genre_by, "n_boot": int(n_boot), "min_size": int(min_size), "level": float(level),
            "seed": int(seed), "alpha_calibration": ALPHA, "position_weights": "1/log2(rank+1)",
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "timings_s": clock.laps}
    return FairnessReport(meta, per_user, groups, exposure, lorenz, summary, None, tuple(notes))


class _Clock:
    """Seconds spent per stage (kept in the report's meta, printed by the benchmark)."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(self.laps.get(stage, 0.0) + now - self._last, 4)
        self._last = now


def _per_user(inputs: RunInputs, ranked: np.ndarray, users: np.ndarray, k: int, metrics: Sequence[str],
              interactions: np.ndarray, genre_by: str, notes: list[str], clock: "_Clock") -> pd.DataFrame:
    data = inputs.data
    result = evaluate_recommendations(ranked, users, inputs.relevant, ks=(k,))
    clock.lap("accuracy metrics")
    per_user = pd.DataFrame({"user_id": data.users.to_raw(users).astype(str), "user_idx": users})
    row = pd.Index(result.per_user["user_idx"]).get_indexer(users)
    for name in metrics:
        values = np.full(len(users), np.nan)
        values[row >= 0] = result.per_user[f"{name}@{k}"].to_numpy(np.float64)[row[row >= 0]]
        per_user[f"{name}@{k}"] = values
    if data.item_features is not None and genre_by in data.item_features:
        genres, _ = genre_matrix(data.item_features[genre_by].to_numpy(dtype=object))
        per_user["miscalibration"] = miscalibration(inputs.history_rows(), ranked, genres)
        clock.lap("calibration")
    else:
        per_user["miscalibration"] = np.nan
        notes.append(f"Calibration needs an item attribute '{genre_by}'; this catalog has none.")
    tail = popularity_tiers(interactions) == "tail"
    per_user["avgpop"], per_user["long_tail_share"] = popularity_bias(ranked, interactions, tail)
    clock.lap("popularity bias")
    return per_user


def _summary(per_user: pd.DataFrame, metric_columns: list[str], ranked: np.ndarray, item_exp: np.ndarray,
             n_items: int, k: int) -> dict:
    out: dict = {"n_customers": int(len(per_user)), "k": int(k)}
    for column in metric_columns:
        out[f"mean_{column}"] = float(np.nanmean(per_user[column])) if per_user[column].notna().any() else None
    out["exposure_gini"] = gini(item_exp)
    out["slot_gini"] = beyond.gini_index(ranked, n_items)
    out.update(aggregate_diversity(ranked, n_items))
    return out


# ----- the re-ranking trade-off ------------------------------------------------------------------

def make_reranker(method: str, lam: float, inputs: RunInputs, *, genre_by: str = "category",
                  protected: tuple[str, str] = (POPULARITY_TIER, "tail"), target_share: float | None = None
                  ) -> Reranker:
    """A re-ranker of ``inputs``' candidate lists: "calibrated", "exposure" or "mmr".

    ``protected`` = (item grouping, group) is the exposure re-ranker's protected
    group; its target share defaults to the group's share of the catalog.
    """
    data = inputs.data
    if method == "calibrated":
        return CalibratedReranker.from_history(inputs.history_rows(), _attribute(data, genre_by), lam)
    if method == "exposure":
        mask = protected_items(inputs, *protected)
        share = float(mask.mean()) if target_share is None else float(target_share)
        return ExposureReranker(mask, share, lam, group=f"{protected[0]}={protected[1]}")
    if method == "mmr":
        return MMRReranker(_attribute(data, genre_by), lam=lam)
    raise ValueError(f"unknown re-ranking method {method!r}; choose one of {', '.join(METHODS)}")


def protected_items(inputs: RunInputs, grouping: str, group: str) -> np.ndarray:
    """Boolean mask of the catalog items in ``group`` of item ``grouping``."""
    labels = item_groups(inputs.data, grouping, interactions=inputs.item_interactions()).labels
    mask = labels == group
    if not mask.any():
        raise ValueError(f"no item is in group {group!r} of {grouping!r}")
    return mask


def _attribute(data: Dataset, column: str) -> np.ndarray:
    if data.item_features is None or column not in data.item_features:
        raise ValueError(f"this re-ranker needs an item attribute {column!r}")
    return data.item_features[column].to_numpy(dtype=object)


def sweep(inputs: RunInputs, *, methods: Sequence[str] = METHODS, lambdas: Sequence[float] = LAMBDAS,
          k: int = 10, accuracy: str = "ndcg", genre_by: str = "category",
          protected: tuple[str, str] = (POPULARITY_TIER, "tail"), target_share: float | None = None,
          n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Accuracy against calibration, exposure and diversity for each method and strength.

    One row per (method, lambda): the accuracy mean with its bootstrap interval and
    its change from the model's own top-k, mean miscalibration, the protected group's
    exposure share, intra-list diversity (categories), catalog coverage, exposure Gini,
    ARP and long-tail share, the share of lists whose candidates hold any protected item
    (the most the exposure re-ranker can reach), and the re-ranker's ``describe()`` as JSON.
    """
    users = np.asarray(inputs.users, dtype=np.int64)
    interactions = inputs.item_interactions()
    tail = popularity_tiers(interactions) == "tail"
    history = inputs.history_rows()
    cats = _attribute(inputs.data, genre_by)
    genres, _ = genre_matrix(cats)
    mask = protected_items(inputs, *protected)
    cand = inputs.candidates
    # Re-ranking can only promote what the model put among the candidates: say how often it did.
    available = float((np.where(cand >= 0, mask[np.where(cand >= 0, cand, 0)], False)).any(axis=1).mean())
    base = cand[:, :k]
    rows = []
    for method in methods:
        for lam in lambdas:
            reranker = make_reranker(method, lam, inputs, genre_by=genre_by, protected=protected,
                                     target_share=target_share)
            ranked = base if lam == 0 else reranker.rerank(inputs.candidates, inputs.scores, k)
            acc = evaluate_recommendations(ranked, users, inputs.relevant, ks=(k,)).per_user[f"{accuracy}@{k}"]
            boots = resampled_means(acc.to_numpy(np.float64), n_boot=n_boot, seed=seed)
            exp = item_exposure(ranked, inputs.data.n_items)
            arp, aplt = popularity_bias(ranked, interactions, tail)
            rows.append({
                "method": method, "lambda": float(lam), f"{accuracy}@{k}": float(acc.mean()),
                "low": float(np.quantile(boots, 0.025)), "high": float(np.quantile(boots, 0.975)),
                "miscalibration": float(np.nanmean(miscalibration(history, ranked, genres))),
                "protected_exposure_share": float(exp[mask].sum() / max(exp.sum(), 1e-12)),
                "lists_with_protected_candidates": available,
                "diversity": float(np.nanmean(beyond.intra_list_diversity(ranked, cats))),
                "coverage": beyond.catalog_coverage(ranked, inputs.data.n_items),
                "exposure_gini": gini(exp), "avgpop": float(np.nanmean(arp)),
                "long_tail_share": float(np.nanmean(aplt)),
                "reranker": json.dumps(_json_safe(reranker.describe())),
            })
    frame = pd.DataFrame(rows)
    column = f"{accuracy}@{k}"
    start = frame[frame["lambda"] == 0].groupby("method")[column].first()
    frame.insert(5, "accuracy_change", frame[column] / frame["method"].map(start) - 1.0)
    return frame


def tradeoff_sweep(workspace: "Workspace", run_id: str, *, inputs: RunInputs | None = None, **kw) -> pd.DataFrame:
    """``sweep`` over stored run ``run_id``'s top-``N_CANDIDATES`` lists (keywords as in ``sweep``)."""
    inputs = inputs or run_inputs(workspace, run_id)
    return sweep(inputs, **kw)


# ----- export ------------------------------------------------------------------------------------

def tables_zip(report: FairnessReport) -> bytes:
    """The report's tables as CSV files in one zip (plus ``meta.json``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, frame in report.tables().items():
            archive.writestr(f"{name}.csv", frame.to_csv(index=False))
        archive.writestr("meta.json", json.dumps(_json_safe(report.meta), indent=2))
    return buffer.getvalue()


def report_html(report: FairnessReport, figures: dict | None = None) -> str:
    """A self-contained HTML page: summary, notes, charts (plotly.js inlined once) and tables."""
    if figures is None:
        figures = _default_figures(report)
    meta = report.meta
    parts = [f"<h1>Fairness report: {html.escape(str(meta.get('model', '')))} on "
             f"{html.escape(str(meta.get('dataset', '')))}</h1>",
             f"<p>Run <code>{html.escape(str(meta.get('run_id', '')))}</code>, top {meta.get('k')} lists of "
             f"{report.summary.get('n_customers')} held-out customers; created {meta.get('created_at')}.</p>",
             "<p>Intervals are 95% percentile bootstrap intervals over customers. Each group's gap to the best "
             "group is tested with a bootstrap test, Holm-adjusted across groups; groups smaller than "
             f"{meta.get('min_size')} customers are shown but marked too small to judge.</p>"]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in report.notes]
    parts.append(_frame_html(pd.DataFrame({"measure": list(report.summary),
                                           "value": list(report.summary.values())})))
    first = True
    for title, figure in figures.items():
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(figure.to_html(full_html=False, include_plotlyjs=first))
        first = False
    for name, frame in report.tables().items():
        if name in ("per_customer", "lorenz", "summary"):
            continue
        parts.append(f"<h2>Table: {html.escape(name)}</h2>" + _frame_html(frame))
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
             "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
             ".note{color:#8a5300}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Fairness report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write_report(report: FairnessReport, out_dir: str | pathlib.Path, figures: dict | None = None
                 ) -> dict[str, pathlib.Path]:
    """Write ``<table>.csv`` for every table, ``meta.json`` and ``report.html`` into ``out_dir``."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in report.tables().items():
        paths[name] = out / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    paths["meta"] = out / "meta.json"
    paths["meta"].write_text(json.dumps(_json_safe({**report.meta, "notes": list(report.notes)}), indent=2))
    paths["html"] = out / "report.html"
    paths["html"].write_text(report_html(report, figures), encoding="utf-8")
    return paths


def _default_figures(report: FairnessReport) -> dict:
    # Imported here: plotly is only needed when an HTML report is written.
    from recsys.fairness.charts import report_figures

    return report_figures(report)


def _frame_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0)


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
