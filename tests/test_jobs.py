"""One cancellation type and one cancel-flag reader for every job of the package."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import numpy as np
import pytest

import cytowords
from cytowords.jobs import Cancelled, is_cancelled
from cytowords.sections import write_section


def test_the_package_has_one_cancel_exception_and_no_other_name_for_it():
    """Every job (describe, map, measure, write, train) raises cytowords.jobs.Cancelled:
    no module defines another cancel exception or re-exports it under another name."""
    src = Path(cytowords.__file__).parent
    found = []
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and "Cancel" in node.name and node.bases:
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if bases - {"Protocol"}:
                    found.append(f"{path.relative_to(src)}: class {node.name}")
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
                if node.value.id == "Cancelled":
                    found.append(f"{path.relative_to(src)}: alias {ast.unparse(node.targets[0])}")
    assert found == ["jobs.py: class Cancelled"]
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
