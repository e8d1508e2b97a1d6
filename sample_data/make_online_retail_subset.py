"""Cut the committed subset of UCI Online Retail (CC BY 4.0) from the full file.

    python -m sample_data.make_online_retail_subset \
        --source /work/shared/datasets/online-retail/online_retail.csv.gz \
        --out sample_data/online_retail --customers 1000 --anonymous-rows 3000 --seed 42

Keeps every line of a seeded random sample of customers plus whole invoices that
have no CustomerID, in the original row order and with the original columns and
values (cancellations, missing ids and odd stock codes included). Also writes
items.csv and customers.csv derived from the subset. Same inputs, same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import pathlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country"]
DEFAULT_SOURCE = pathlib.Path("/work/shared/datasets/online-retail/online_retail.csv.gz")
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "online_retail"


def read_raw(path: pathlib.Path) -> pd.DataFrame:
    """Read the raw file with every value as the exact string it was written as."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(df.columns) != COLUMNS:
        raise ValueError(f"unexpected columns {list(df.columns)}")
    return df


def select_rows(raw: pd.DataFrame, n_customers: int, anonymous_rows: int,
                seed: int) -> pd.DataFrame:
    """All rows of `n_customers` random customers plus whole anonymous invoices."""
    rng = np.random.default_rng(seed)
    known = raw["CustomerID"] != ""
    ids = np.sort(raw.loc[known, "CustomerID"].unique())
    chosen = rng.choice(ids, size=min(n_customers, len(ids)), replace=False)
    invoices = raw.loc[~known, "InvoiceNo"]
    sizes = invoices.value_counts().sort_index()
    perm = rng.permutation(len(sizes))
    take = perm[np.cumsum(sizes.to_numpy()[perm]) <= anonymous_rows]
    keep = raw["CustomerID"].isin(chosen) | (~known & raw["InvoiceNo"].isin(sizes.index[take]))
    return raw.loc[keep].reset_index(drop=True)


def _mode(values: pd.Series) -> str:
    """Most frequent non-empty value; ties go to the alphabetically first."""
    counts = values[values != ""].value_counts()
    if counts.empty:
        return ""
    return str(min(counts.index[counts == counts.max()]))


def derive_items(sample: pd.DataFrame) -> pd.DataFrame:
    """One row per StockCode: its usual description and median unit price of sales."""
    qty = pd.to_numeric(sample["Quantity"])
    price = pd.to_numeric(sample["UnitPrice"])
    sale = (qty > 0) & (price > 0)
    rows = []
    for code, grp in sample.groupby("StockCode", sort=True):
        p = price[grp.index][sale[grp.index]]
        median = float((p if len(p) else price[grp.index]).median())
        rows.append((code, _mode(grp["Description"]), round(median, 2)))
    return pd.DataFrame(rows, columns=["StockCode", "Description", "UnitPrice"])


def derive_customers(sample: pd.DataFrame) -> pd.DataFrame:
    """One row per CustomerID (written as in the raw file) with its usual country."""
    known = sample[sample["CustomerID"] != ""]
    rows = [(cid, _mode(grp["Country"])) for cid, grp in known.groupby("CustomerID", sort=True)]
    return pd.DataFrame(rows, columns=["CustomerID", "Country"])


def _csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def write_subset(sample: pd.DataFrame, out: pathlib.Path) -> None:
    """Write the sample (gzip without timestamp) and the two derived tables."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "online_retail_sample.csv.gz", "wb") as fh, gzip.GzipFile(
            filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
        gz.write(_csv_bytes(sample))
    (out / "items.csv").write_bytes(_csv_bytes(derive_items(sample)))
    (out / "customers.csv").write_bytes(_csv_bytes(derive_customers(sample)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_data.make_online_retail_subset",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=pathlib.Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--anonymous-rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=42)
    a = parser.parse_args(argv)
    sample = select_rows(read_raw(a.source), a.customers, a.anonymous_rows, a.seed)
    write_subset(sample, a.out)
    print(f"wrote {len(sample)} rows, {sample['CustomerID'].replace('', np.nan).nunique()} "
          f"customers to {a.out}")


if __name__ == "__main__":
    main()
