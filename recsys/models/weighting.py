"""How summed event weights become the matrix a model learns from.

``Dataset.matrix()`` sums event-type weights per (user, item): a purchase counts
8, a view 1, and a user who viewed an item 40 times has weight 40. Models pick
one of three readings of that number.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

WEIGHTINGS = ("binary", "log", "raw")
WEIGHTING_HELP = ("binary: any event = 1; log: 1 event = 1, more or stronger events "
                  "grow logarithmically; raw: summed event weights")


def apply_weighting(matrix: sp.csr_matrix, scheme: str) -> sp.csr_matrix:
    """A float32 copy of ``matrix`` with its stored values re-weighted by ``scheme``.

    ``log`` is ``log2(1 + w)``: weight 1 stays 1, so data without event types
    reads the same as ``binary``, while a purchase (8) counts about 3 and 40
    views about 5.4, which keeps heavy repeat viewers from dominating.
    """
    if scheme not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {scheme!r}")
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.eliminate_zeros()
    if scheme == "binary":
        out.data[:] = 1.0
    elif scheme == "log":
        out.data = np.log2(1.0 + np.maximum(out.data, 0.0)).astype(np.float32)
    return out
