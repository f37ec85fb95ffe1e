"""open_section on real stores: NGFF 0.4/0.5 written by hand, plain zarr, TIFF, labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr

from cytowords.sections import Section, open_section


def _image(h: int = 600, w: int = 500) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy * 3 + xx * 7) % 251).astype(np.uint8)


def _ngff(
    path,
    zf: int,
    unit: str = "micrometer",
    scale: float = 2.0,
    levels: int = 2,
    labels: bool = False,
) -> np.ndarray:
    """Write an NGFF 0.4 (zf=2) or 0.5 (zf=3) store directly with zarr."""
    img = _image()
    root = zarr.open_group(str(path), mode="w", zarr_format=zf)
    datasets = []
    for k in range(levels):
        a = img[:: 2**k, :: 2**k]
        root.create_array(str(k), data=a, chunks=(128, 128))
        datasets.append(
            {
                "path": str(k),
                "coordinateTransformations": [{"type": "scale", "scale": [scale * 2**k] * 2}],
            }
        )
    ms = {
        "axes": [
            {"name": "y", "type": "space", "unit": unit},
            {"name": "x", "type": "space", "unit": unit},
        ],
        "datasets": datasets,
        "name": "img",
    }
    if zf == 2:
        root.attrs["multiscales"] = [{**ms, "version": "0.4"}]
    else:
        root.attrs["ome"] = {"version": "0.5", "multiscales": [ms]}
    if labels:
        lab = np.zeros(img.shape, np.uint8)
        lab[:, 250:] = 4
        lg = root.create_group("labels")
        g = lg.create_group("areas")
        g.create_array("0", data=lab, chunks=(128, 128))
        lms = {**ms, "datasets": datasets[:1], "name": "areas"}
        il = {
            "colors": [{"label-value": 4, "rgba": [0, 255, 0, 255]}],
            "properties": [{"label-value": 4, "name": "hOc2"}],
        }
        if zf == 2:
            lg.attrs["labels"] = ["areas"]
            g.attrs.update({"multiscales": [{**lms, "version": "0.4"}], "image-label": il})
        else:
            lg.attrs["ome"] = {"version": "0.5", "labels": ["areas"]}
            g.attrs["ome"] = {"version": "0.5", "multiscales": [lms], "image-label": il}
    return img


@pytest.mark.parametrize("zf,version", [(2, "0.4"), (3, "0.5")])
def test_ngff_levels_pixel_size_and_data(tmp_path, zf, version):
    path = tmp_path / "brain.ome.zarr"
    img = _ngff(path, zf)
    s = open_section(path)
    assert isinstance(s, Section)
    assert s.name == "brain"
    assert s.metadata["ngff_version"] == version
    assert s.metadata["zarr_format"] == zf
    assert [lev.shape for lev in s.levels] == [(600, 500), (300, 250)]
    assert s.pixel_size_um == pytest.approx([2.0, 4.0])
    np.testing.assert_array_equal(s.levels[0][10:20, 30:40].compute(), img[10:20, 30:40])
    np.testing.assert_array_equal(s.levels[1].compute(), img[::2, ::2])


@pytest.mark.parametrize("unit,factor", [("nanometer", 1e-3), ("millimeter", 1e3)])
def test_units_converted_to_um(tmp_path, unit, factor):
    _ngff(tmp_path / "a.zarr", 3, unit=unit, scale=500.0)
    s = open_section(tmp_path / "a.zarr")
    assert s.pixel_size_um[0] == pytest.approx(500.0 * factor)


def test_pixel_size_override_keeps_level_ratios(tmp_path):
    _ngff(tmp_path / "a.zarr", 2)
    s = open_section(tmp_path / "a.zarr", pixel_size_um=0.5)
    assert s.pixel_size_um == pytest.approx([0.5, 1.0])


@pytest.mark.parametrize("zf", [2, 3])
def test_labels_with_names_and_colours(tmp_path, zf):
    _ngff(tmp_path / "a.zarr", zf, labels=True)
    s = open_section(tmp_path / "a.zarr")
    lab = s.labels["areas"]
    assert lab.names == {4: "hOc2"}
    assert lab.colors == {4: "#00ff00"}
    assert lab.pixel_size_um[0] == pytest.approx(2.0)
    assert lab.levels[0].shape == (600, 500)
    assert int(lab.levels[0][0, 400].compute()) == 4


def test_missing_levels_built_lazily_down_to_1024(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (2600, 1100), dtype=np.uint8)
    z = zarr.create_array(str(tmp_path / "plain.zarr"), data=img, chunks=(512, 512))
    z.attrs["pixel_size_um"] = 1.5
    s = open_section(tmp_path / "plain.zarr")
    assert [lev.shape for lev in s.levels] == [(2600, 1100), (1300, 550), (650, 275)]
    assert s.pixel_size_um == pytest.approx([1.5, 3.0, 6.0])
    expected = img.reshape(1300, 2, 550, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(s.levels[1].compute(), expected, atol=0.51)
    assert s.levels[2].dtype == np.uint8


def test_plain_group_of_levels(tmp_path):
    img = _image(1200, 800)
    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w", zarr_format=3)
    g.create_array("full", data=img, chunks=(256, 256))
    g.create_array("half", data=img[::2, ::2], chunks=(256, 256))
    s = open_section(tmp_path / "g.zarr", pixel_size_um=1.0)
    assert [lev.shape for lev in s.levels] == [(1200, 800), (600, 400)]
    assert s.pixel_size_um == pytest.approx([1.0, 2.0])


def test_singleton_axes_dropped(tmp_path):
    img = _image(300, 200)
    root = zarr.open_group(str(tmp_path / "c.zarr"), mode="w", zarr_format=2)
    root.create_array("0", data=img[None, None, None], chunks=(1, 1, 1, 128, 128))
    axes = [
        {"name": "t", "type": "time"},
        {"name": "c", "type": "channel"},
        {"name": "z", "type": "space", "unit": "micrometer"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    root.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": axes,
            "datasets": [
                {
                    "path": "0",
                    "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 5, 3, 3]}],
                }
            ],
        }
    ]
    s = open_section(tmp_path / "c.zarr")
    assert s.levels[0].shape == (300, 200)
    assert s.pixel_size_um[0] == pytest.approx(3.0)
    np.testing.assert_array_equal(s.levels[0].compute(), img)


def test_pyramidal_ome_tiff(tmp_path):
    img = _image(2400, 1800)
    path = tmp_path / "sec.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(
            img,
            subifds=1,
            tile=(256, 256),
            metadata={
                "axes": "YX",
                "PhysicalSizeX": 0.8,
                "PhysicalSizeXUnit": "µm",
                "PhysicalSizeY": 0.8,
                "PhysicalSizeYUnit": "µm",
            },
        )
        tw.write(img[::2, ::2], subfiletype=1, tile=(256, 256))
    s = open_section(path)
    assert s.name == "sec"
    assert s.metadata["format"] == "ome-tiff"
    assert [lev.shape for lev in s.levels] == [(2400, 1800), (1200, 900), (600, 450)]
    assert s.pixel_size_um == pytest.approx([0.8, 1.6, 3.2])
    np.testing.assert_array_equal(s.levels[0][1000:1010, 5:9].compute(), img[1000:1010, 5:9])
    np.testing.assert_array_equal(s.levels[1].compute(), img[::2, ::2])


def test_plain_tiff_resolution_tags(tmp_path):
    img = _image(500, 400)
    path = tmp_path / "s.tif"
    tifffile.imwrite(
        path, img, tile=(128, 128), resolution=(1e4 / 0.25, 1e4 / 0.25), resolutionunit="CENTIMETER"
    )
    s = open_section(path)
    assert s.pixel_size_um[0] == pytest.approx(0.25)
    np.testing.assert_array_equal(s.levels[0].compute(), img)


def test_our_metadata_roundtrips(tmp_path):
    _ngff(tmp_path / "a.zarr", 3)
    g = zarr.open_group(str(tmp_path / "a.zarr"), mode="r+")
    g.attrs["cytowords"] = {"metadata": {"seed": 7}}
    s = open_section(tmp_path / "a.zarr")
    assert s.metadata["seed"] == 7
    assert json.dumps(s.metadata)


def test_bioformats2raw_layout(tmp_path):
    root = zarr.open_group(str(tmp_path / "b2r.zarr"), mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    _ngff(tmp_path / "b2r.zarr" / "0", 2, labels=True)
    s = open_section(tmp_path / "b2r.zarr")
    assert s.name == "b2r" and s.levels[0].shape == (600, 500)
    assert s.labels["areas"].names == {4: "hOc2"}


def test_sharded_v3_store_uses_shards_as_dask_chunks(tmp_path):
    img = _image(2048, 2048)
    root = zarr.open_group(str(tmp_path / "sh.zarr"), mode="w", zarr_format=3)
    arr = root.create_array(
        "0", shape=img.shape, dtype=img.dtype, chunks=(256, 256), shards=(2048, 1024)
    )
    arr[:] = img
    root.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [
                    {"name": "y", "type": "space", "unit": "micrometer"},
                    {"name": "x", "type": "space", "unit": "micrometer"},
                ],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}],
                    }
                ],
            }
        ],
    }
    s = open_section(tmp_path / "sh.zarr")
    assert s.levels[0].chunks == ((2048,), (1024, 1024))
    assert s.metadata["n_stored_levels"] == 1 and len(s.levels) == 2
    np.testing.assert_array_equal(s.levels[0].compute(), img)
