"""Colour (RGB) cresyl-violet-like scans open as one grey channel through optical density:
RGB TIFF (YXS), RGBA TIFF, RGB OME-Zarr (c axis), and an RGB napari layer."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from cytowords.napari.describe.widget import DescribeWidget
from cytowords.napari.io.layers import section_from_layer
from cytowords.sections import Section, grey_levels, open_section, read_fields
from tests.support.napari_helpers import rect, wait_idle

PX = 4.0  # µm per pixel of the test images
#: a violet stain absorbs green most (transmits red and blue): its unit OD vector (R, G, B)
STAIN = np.array([0.40, 0.82, 0.41]) / np.linalg.norm([0.40, 0.82, 0.41])
SLIDE = np.array([247.0, 241.0, 251.0])  # a slightly tinted empty slide


def _grey() -> np.ndarray:
    """Grey cell-body-stain image: bright slide, tissue band, dark cells."""
    rng = np.random.default_rng(7)
    h, w = 640, 768
    img = np.full((h, w), 238.0)
    img[120:540, 100:700] = 170.0 + 25 * np.sin(np.arange(420) / 15.0)[:, None]
    ys, xs = rng.integers((120, 100), (540, 700), (900, 2)).T
    for y, x in zip(ys, xs):
        img[y - 2 : y + 3, x - 2 : x + 3] = rng.uniform(40, 110)
    img += rng.normal(0, 4, (h, w))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _cresyl(grey: np.ndarray, alpha: bool = False) -> np.ndarray:
    """The grey scene through one violet stain: OD_c = a · STAIN_c on a tinted slide."""
    od_grey = np.maximum(-np.log10((grey + 1.0) / 239.0), 0.0)
    a = od_grey / STAIN.mean()
    rgb = (SLIDE + 1.0) * 10.0 ** (-a[..., None] * STAIN) - 1.0
    rgb += np.random.default_rng(1).normal(0, 2, rgb.shape)
    out = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if alpha:
        out = np.concatenate([out, np.full(grey.shape + (1,), 255, np.uint8)], axis=-1)
    return out


def _fields_agree(s: Section, grey: np.ndarray) -> float:
    """Pearson correlation of fields read from ``s`` and from the grey original."""
    ref = Section([da.from_array(grey, chunks=256)], [PX])
    centres = np.random.default_rng(3).uniform((600, 500), (2000, 2700), (24, 2))
    a = read_fields(s, centres, 8.0, 24).ravel()
    b = read_fields(ref, centres, 8.0, 24).ravel()
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    return _grey()


@pytest.mark.parametrize("alpha", [False, True])
def test_rgb_tiff_opens_as_grey(tmp_path: Path, grey: np.ndarray, alpha: bool) -> None:
    path = tmp_path / "cresyl.tif"
    rgb = _cresyl(grey, alpha)
    extra = {"extrasamples": [2]} if alpha else {}
    tifffile.imwrite(
        path, rgb, photometric="rgb", tile=(256, 256),
        resolution=(1e4 / PX, 1e4 / PX), resolutionunit="CENTIMETER", **extra,
    )  # fmt: skip
    s = open_section(path)
    assert all(lev.ndim == 2 for lev in s.levels) and s.dtype == np.uint8
    assert isinstance(s.levels[0], da.Array)
    assert "optical density" in s.metadata["colour"] and "stain vector" in s.metadata["colour"]
    assert _fields_agree(s, grey) > 0.9
    # looks like a bright-field grey scan: bright slide, darker tissue
    lvl = np.asarray(s.levels[0].compute())
    assert lvl[:100, :].mean() > 200 and lvl[300:400, 300:600].mean() < lvl[:100, :].mean() - 30


def test_stain_vector_is_found(grey: np.ndarray) -> None:
    _, model = grey_levels([_cresyl(grey)])
    assert float(np.dot(model.vector, STAIN)) > 0.99
    assert np.allclose(model.i0, SLIDE, atol=6)


def test_colourless_sample_falls_back_to_mean_od() -> None:
    flat = np.full((64, 64, 3), 240, np.uint8)  # empty slide only: no stained pixel
    grey, model = grey_levels([flat])
    assert "mean OD" in model.method
    assert np.asarray(grey[0].compute()).max() <= 240


def test_rgb_ome_zarr_c_axis(tmp_path: Path, grey: np.ndarray) -> None:
    path = tmp_path / "cresyl.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    arr = root.create_array("0", shape=(3, *grey.shape), chunks=(3, 256, 256), dtype="uint8")
    arr[:] = np.moveaxis(_cresyl(grey), -1, 0)
    root.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [
                {"name": "c", "type": "channel"},
                {"name": "y", "type": "space", "unit": "micrometer"},
                {"name": "x", "type": "space", "unit": "micrometer"},
            ],
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, PX, PX]}]}
            ],
        }
    ]
    s = open_section(path)
    assert s.levels[0].shape == grey.shape and s.pixel_size_um[0] == PX
    assert "optical density" in s.metadata["colour"]
    assert _fields_agree(s, grey) > 0.9


def test_napari_rgb_layer_is_accepted(make_napari_viewer, grey: np.ndarray) -> None:
    viewer = make_napari_viewer()
    layer = viewer.add_image(_cresyl(grey), rgb=True, scale=(PX, PX), name="cresyl")
    assert layer.rgb
    s = section_from_layer(layer)
    assert s.levels[0].shape == grey.shape and s.pixel_size_um[0] == pytest.approx(PX)
    assert "optical density" in s.metadata["colour"]
    assert _fields_agree(s, grey) > 0.9


def test_napari_reader_opens_rgb_tiff_as_grey(tmp_path: Path, grey: np.ndarray) -> None:
    from cytowords.napari.io.reader import read_section_layers

    path = tmp_path / "cresyl.tif"
    tifffile.imwrite(
        path, _cresyl(grey), photometric="rgb",
        resolution=(1e4 / PX, 1e4 / PX), resolutionunit="CENTIMETER",
    )  # fmt: skip
    data, meta, kind = read_section_layers(str(path))[0]
    assert kind == "image" and meta["scale"] == (PX, PX)
    assert "optical density" in meta["metadata"]["colour"]
    assert all(lev.ndim == 2 for lev in (data if isinstance(data, list) else [data]))


def test_describe_widget_describes_an_rgb_layer(make_napari_viewer, qtbot, grey, tiny_bundle):
    viewer = make_napari_viewer()
    viewer.add_image(_cresyl(grey), rgb=True, scale=(8.0, 8.0), name="cresyl")
    w = DescribeWidget(viewer)
    w.model.set_value(str(tiny_bundle))
    layer = w.roi_layer()
    layer.add_rectangles(rect(150, 150, 450, 600))
    w.describe_all()
    wait_idle(qtbot, w)
    assert list(layer.features["status"]) == ["done"]
    w.cancel()
