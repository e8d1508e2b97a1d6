"""Sample datasets: a synthetic content platform with planted structure, and a UCI subset.

`sample_data.generate` builds the synthetic set; `content_platform/` holds the
committed default and `online_retail/` a subset of UCI Online Retail.
"""

from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent
CONTENT_PLATFORM_DIR = ROOT / "content_platform"
ONLINE_RETAIL_DIR = ROOT / "online_retail"
