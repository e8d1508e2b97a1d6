"""Model tests run torch on one thread: tiny tensors gain nothing from a pool, and on a
busy shared machine an idle-spinning pool makes each small op cost milliseconds. Session-wide,
so it is set before any module's shared fitted model: several modules compare saved and loaded
scores bit for bit, and the thread count changes float summation order. Test modules here need
no fixture of their own."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
