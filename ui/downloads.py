"""Download buttons whose bytes are handed over on click."""

from __future__ import annotations

from typing import Callable


def deferred(data: bytes | str) -> Callable[[], bytes | str]:
    """``data`` as a zero-argument callable for ``st.download_button``.

    Why: with plain bytes, Streamlit stores a media file per script run and the
    browser probes its URL as soon as the button renders; when the session has
    already rerun (another page, another widget), that file is gone and the probe
    logs "Download Button source error - 404" (seen in bench/soak.py). A callable
    is served on click, so nothing is probed at render time. The Segments page
    still hands over plain bytes: its export is prepared by an explicit click and
    its tests read the stored media file.
    """
    return lambda: data
