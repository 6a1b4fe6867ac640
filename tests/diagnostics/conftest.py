from __future__ import annotations

import pytest

from diagnostics.normal_model import NormalModel, train_normal_model

from .synth import NOMINAL, stream


@pytest.fixture(scope="session")
def models() -> dict[str, NormalModel]:
    """One healthy model per equipment type, trained on a full synthetic day (the whole load cycle)."""
    return {eq: train_normal_model(eq, [v for _, v in stream(eq, 0, 8640, seed=1)], version="test-1")
            for eq in NOMINAL}
