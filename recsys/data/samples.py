"""The bundled sample datasets and the default dataset the dashboard opens on."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_SAMPLE = "content-platform"


@dataclass(frozen=True)
class Sample:
    """A folder of bundled files, one per table role."""

    key: str
    title: str
    description: str
    folder: str
    files: dict[str, str]

    def paths(self, root: pathlib.Path = REPO_ROOT) -> dict[str, pathlib.Path]:
        return {table: root / self.folder / name for table, name in self.files.items()}

    def dataset_name(self) -> str:
        return f"sample-{self.key}"


SAMPLES: dict[str, Sample] = {
    "content-platform": Sample(
        key="content-platform",
        title="Content platform (synthetic, 150k events)",
        description="Articles, videos, offers and products with customers and a year of views, "
        "clicks, carts and purchases; planted segment tastes, series, device and time effects, "
        "a promotion and a trend shift (see sample_data/README.md).",
        folder="sample_data/content_platform",
        files={"interactions": "events.csv.gz", "items": "items.csv", "users": "customers.csv"},
    ),
    "online-retail": Sample(
        key="online-retail",
        title="Online Retail (real, UCI, CC BY 4.0)",
        description="A subset of a UK online retailer's 2010-2011 invoice lines: real, messy data "
        "with rows lacking a customer id and cancellations with negative quantities.",
        folder="sample_data/online_retail",
        files={"interactions": "online_retail_sample.csv.gz", "items": "items.csv", "users": "customers.csv"},
    ),
}


def import_sample(sample_key: str, workspace, *, overwrite: bool = False):
    """Validate and import a bundled sample into ``workspace``; returns its DatasetInfo."""
    from recsys.data.importer import import_dataset
    from recsys.data.validation import load_and_validate

    sample = SAMPLES[sample_key]
    report = load_and_validate({table: str(path) for table, path in sample.paths().items()})
    return import_dataset(report, sample.dataset_name(), workspace,
                          source={"sample": sample.key}, overwrite=overwrite)


def ensure_default_dataset(workspace):
    """Import the default sample when the workspace has no dataset yet (first start)."""
    if workspace.list_datasets():
        return None
    try:
        return import_sample(DEFAULT_SAMPLE, workspace)
    except Exception:
        # Another session or process may have imported it at the same moment.
        if workspace.has_dataset(SAMPLES[DEFAULT_SAMPLE].dataset_name()):
            return None
        raise
