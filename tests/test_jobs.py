"""One cancellation type and one cancel-flag reader for every job of the package."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cytowords.describe import Cancelled as DescribeCancelled
from cytowords.describe.mapping import MapCancelled
from cytowords.jobs import Cancelled, is_cancelled
from cytowords.measure.errors import MeasureCancelled
from cytowords.sections import WriteCancelled, write_section
from cytowords.training.pipeline import TrainingCancelled


def test_old_cancel_names_are_the_one_type():
    for old in (
        DescribeCancelled,
        MapCancelled,
        MeasureCancelled,
        WriteCancelled,
        TrainingCancelled,
    ):
        assert old is Cancelled
    # the section writer and the readout raised RuntimeError subclasses before; still true
    assert issubclass(Cancelled, RuntimeError)


def test_is_cancelled_reads_none_events_and_callables():
    ev = threading.Event()
    assert not is_cancelled(None)
    assert not is_cancelled(ev)
    ev.set()
    assert is_cancelled(ev)
    assert not is_cancelled(lambda: False)
    assert is_cancelled(lambda: 1)


def test_catching_cancelled_catches_a_real_job(tmp_path):
    ev = threading.Event()
    ev.set()
    img = np.random.default_rng(0).integers(0, 255, (600, 500), dtype=np.uint8)
    with pytest.raises(Cancelled, match="write_section cancelled"):
        write_section(tmp_path / "c.zarr", img, pixel_size_um=1, chunk_px=128, cancel=ev)
    assert not (tmp_path / "c.zarr").exists()
