"""Described ROIs carry the model-free readout: on a stored synthetic section, through the
JSON, CSV and GeoJSON exports and the napari results panel's detail text."""

from __future__ import annotations

import csv
import io
import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest

from cytowords.cli import main
from cytowords.describe import DescribeParams, Describer
from cytowords.describe.export import description_row, results_to_csv, rois_to_geojson
from cytowords.jobs import Cancelled
from cytowords.measure.caption_claims import caption_iv_claim
from cytowords.regions import Roi
from cytowords.regions.geojson import parse_geojson_rois
from cytowords.sections import open_section, write_section
from cytowords.synth import virtual_section

PX = 16.0
# an 8 × 9 mm window of brain 203 around area 4p, ribbon with pia and white matter
Y0, X0, H, W = 36000, 7000, 8000, 9000
ACROSS = (4192.0, 4648.0)  # 3 mm square across the ribbon (window µm)
WHITE = (3500.0, 7750.0)  # deep white matter (window µm)


@pytest.fixture(scope="module")
def store_and_bundle(tmp_path_factory, tiny_bundle) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("measured")
    # the classic generator: the sites below were found on its geometry (the realistic
    # default folds differently)
    sec = virtual_section(203, pixel_size_um=PX, variation="classic")
    a, b = int(Y0 / PX), int(X0 / PX)
    img = np.asarray(sec.levels[0][a : a + int(H / PX), b : b + int(W / PX)])
    store = write_section(tmp / "s.ome.zarr", img, pixel_size_um=PX, chunk_px=256)
    return Path(store), tiny_bundle


def square(y: float, x: float, half: float) -> Roi:
    return Roi.rectangle(y - half, x - half, y + half, x + half)


@pytest.fixture(scope="module")
def described(store_and_bundle):
    store, bundle = store_and_bundle
    d = Describer(bundle, device="cpu")
    sec = open_section(store)
    return d.describe_rois(sec, [square(*ACROSS, 1500.0), square(*WHITE, 500.0)])


def test_roi_across_the_ribbon_says_what_was_measured(described) -> None:
    res, _ = described
    t = res.measurements["thickness_mm"]["median"]
    assert 1.5 < t < 4.0  # the generator's 4p is ~2.5 mm in this cut
    assert res.measurements["n_traverses"] >= 10
    assert res.statements[0].startswith("The cortex is about")
    assert any("layer iv" in s.lower() for s in res.statements)
    if not res.rejected:  # the atlas's stored thickness beside the measured one
        assert any(f"({res.area} in the atlas:" in s for s in res.statements)
    j = json.loads(json.dumps(res.to_dict()))
    assert j["measurements"]["thickness_mm"]["median"] == t
    assert j["statements"] == res.statements
    assert "traverses_um" not in j["measurements"]
    row = description_row(res)
    assert row["thickness_mm"] == pytest.approx(t)
    # 1 where a layer IV is shown, NaN while it is undecided (the readout never says 0)
    if res.measurements["layers"]["iv_present"] is None:
        assert np.isnan(row["layer_iv"]) and res.measurements["layers"]["iv_undecided"]
    else:
        assert row["layer_iv"] == 1.0
    assert row["measured"] == " ".join(res.statements)


def test_roi_on_white_matter_is_described_not_measured(described) -> None:
    _, res = described
    assert res.caption is not None and res.n_patches > 0
    assert res.measurements["not_measured"]
    assert res.measurements["thickness_mm"]["median"] is None
    assert any(s.startswith("Not measured:") for s in res.statements)
    row = description_row(res)
    assert math.isnan(row["thickness_mm"]) and math.isnan(row["layer_iv"])


def test_measured_columns_survive_csv_and_geojson(described) -> None:
    rois = [square(*ACROSS, 1500.0), square(*WHITE, 500.0)]
    rows = [description_row(r) for r in described]
    got = list(csv.DictReader(io.StringIO(results_to_csv(rois, rows))))
    assert got[0]["measured"] == rows[0]["measured"]
    assert float(got[0]["thickness_mm"]) == pytest.approx(rows[0]["thickness_mm"])
    assert got[1]["thickness_mm"] == ""
    gj = rois_to_geojson(rois, rows, pixel_size_um=PX)
    props = gj["features"][0]["properties"]
    assert props["measurements"]["thickness_mm"] == pytest.approx(rows[0]["thickness_mm"])
    assert props["metadata"]["measured"] == rows[0]["measured"]
    back = parse_geojson_rois(gj, pixel_size_um=PX)
    r0 = back.rois[0].results
    assert r0["measured"] == rows[0]["measured"]
    assert r0["thickness_mm"] == pytest.approx(rows[0]["thickness_mm"])


def test_results_panel_detail_shows_statements(described) -> None:
    pytest.importorskip("qtpy")
    from cytowords.napari.describe.panel import detail_text

    row = {**description_row(described[0]), "status": "done"}
    text = detail_text(0, row)
    assert "measured: The cortex is about" in text


def test_cli_json_and_text_carry_the_readout(store_and_bundle, capsys) -> None:
    store, bundle = store_and_bundle
    y, x = ACROSS
    roi = f"{x - 1500:.0f},{y - 1500:.0f},{x + 1500:.0f},{y + 1500:.0f}"
    args = ["describe", str(store), "--roi", roi, "--model", str(bundle), "--device", "cpu"]
    assert main([*args, "--json", "--no-pixel-size-check"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["measurements"]["thickness_mm"]["median"] > 1.0
    assert out["statements"][0].startswith("The cortex is about")
    assert main([*args, "--no-pixel-size-check"]) == 0
    assert "measured:    The cortex is about" in capsys.readouterr().out


def test_measure_off_skips_the_readout(store_and_bundle) -> None:
    store, bundle = store_and_bundle
    d = Describer(bundle, device="cpu", params=DescribeParams(measure=False))
    res = d.describe_roi(open_section(store), square(*ACROSS, 1500.0))
    assert res.measurements == {} and res.statements == []
    assert description_row(res)["measured"] == ""


@pytest.mark.parametrize(
    "caption, claim",
    [
        ("Agranular motor cortex with giant pyramids in layer V.", False),
        ("Koniocortex with a broad, dense layer IV.", True),
        ("Granular isocortex; layer IV is prominent.", True),
        ("Dysgranular cortex with a thin layer IV.", None),
        ("Thick cortex with large pyramids.", None),
    ],
)
def test_caption_layer_iv_claim(caption: str, claim: bool | None) -> None:
    assert caption_iv_claim(caption) is claim


def test_cancel_during_the_readout_cancels_the_description(store_and_bundle) -> None:
    store, bundle = store_and_bundle
    ev = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == total:  # the model's part is done: the readout comes next
            ev.set()

    d = Describer(bundle, device="cpu")
    with pytest.raises(Cancelled):
        d.describe_roi(
            open_section(store), square(*ACROSS, 1500.0), on_progress=progress, cancel=ev
        )


def test_the_readout_runs_beside_the_model_and_ends_with_the_description(
    store_and_bundle, monkeypatch
) -> None:
    """The readout needs no model: it runs on a thread of its own while the fields are
    read and embedded, and no such thread outlives the description."""
    from cytowords.describe import describer as describer_mod

    store, bundle = store_and_bundle
    seen: dict[str, object] = {}
    real_measure = describer_mod.measure_region

    def measure(*args, **kwargs):
        seen["readout"] = threading.current_thread()
        return real_measure(*args, **kwargs)

    d = Describer(bundle, device="cpu")
    real_embed = d.bundle.embed

    def embed(*args, **kwargs):
        seen.setdefault("model", threading.current_thread())
        return real_embed(*args, **kwargs)

    monkeypatch.setattr(describer_mod, "measure_region", measure)
    monkeypatch.setattr(d.bundle, "embed", embed)
    res = d.describe_roi(open_section(store), square(*ACROSS, 1500.0))
    assert res.measurements["thickness_mm"]["median"] > 0
    assert seen["model"] is threading.current_thread()
    assert seen["readout"] is not threading.current_thread()
    assert not seen["readout"].is_alive()
    assert not any(t.name.startswith("cytowords-readout") for t in threading.enumerate())
