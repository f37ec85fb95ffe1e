"""Interoperability with the ome-zarr package (writer and reader) and ome-zarr-models."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Multiscales, Reader
from ome_zarr.writer import write_image, write_labels

from cytowords.sections import LabelImage, open_section, write_section

FORMATS = [("0.4", 2, FormatV04), ("0.5", 3, FormatV05)]


def _img() -> np.ndarray:
    yy, xx = np.mgrid[0:700, 0:520]
    return ((yy + 2 * xx) % 200).astype(np.uint8)


@pytest.mark.parametrize("version,zf,fmt", FORMATS)
def test_ome_zarr_written_store_opens(tmp_path, version, zf, fmt):
    img = _img()
    lab = (img > 100).astype(np.uint8) * 5
    group = zarr.open_group(str(tmp_path / "oz.zarr"), mode="w", zarr_format=zf)
    um = {"y": "micrometer", "x": "micrometer"}
    write_image(
        img,
        group,
        axes="yx",
        fmt=fmt(),
        scale={"y": 1.2, "x": 1.2},
        axes_units=um,
        scale_factors=(2, 4),
    )
    write_labels(
        lab,
        group,
        name="areas",
        axes="yx",
        fmt=fmt(),
        scale={"y": 1.2, "x": 1.2},
        axes_units=um,
        scale_factors=(2,),
        label_metadata={
            "colors": [{"label-value": 5, "rgba": [0, 0, 255, 255]}],
            "properties": [{"label-value": 5, "name": "FG1"}],
        },
    )
    s = open_section(tmp_path / "oz.zarr")
    assert s.metadata["ngff_version"] == version
    assert s.pixel_size_um == pytest.approx([1.2, 2.4, 4.8])
    np.testing.assert_array_equal(s.levels[0].compute(), img)
    areas = s.labels["areas"]
    assert areas.names == {5: "FG1"} and areas.colors == {5: "#0000ff"}
    np.testing.assert_array_equal(areas.levels[0].compute(), lab)
    assert areas.pixel_size_um[0] == pytest.approx(1.2)


def _ours(tmp_path, version: str):
    img = _img()
    lab = np.zeros(img.shape, np.uint8)
    lab[300:, :] = 2
    return write_section(
        tmp_path / f"ours{version}.ome.zarr",
        img,
        pixel_size_um=0.5,
        ngff_version=version,
        chunk_px=128,
        n_levels=2,
        labels={"areas": LabelImage([lab], [0.5], {2: "hOc1"}, {2: "#ff0000"})},
    )


@pytest.mark.parametrize("version,zf,fmt", FORMATS)
def test_our_store_validates_with_ome_zarr_models(tmp_path, version, zf, fmt):
    import ome_zarr_models
    from ome_zarr_models.v04.image import Image as Image04
    from ome_zarr_models.v04.image_label import ImageLabel as Label04
    from ome_zarr_models.v05.image import Image as Image05
    from ome_zarr_models.v05.image_label import ImageLabel as Label05

    path = _ours(tmp_path, version)
    group = zarr.open_group(str(path), mode="r", zarr_format=zf)
    image_cls, label_cls = (Image04, Label04) if version == "0.4" else (Image05, Label05)
    model = ome_zarr_models.open_ome_zarr(group)
    assert isinstance(model, image_cls)
    image = image_cls.from_zarr(group)
    assert image.labels is not None
    label = label_cls.from_zarr(group["labels/areas"])
    meta = label.attributes.model_dump(by_alias=True)
    meta = meta.get("ome", meta)
    props = meta["image-label"]["properties"]
    assert props[0]["label-value"] == 2 and props[0]["name"] == "hOc1"


@pytest.mark.parametrize("version,zf,fmt", FORMATS)
def test_our_store_reads_with_ome_zarr_reader(tmp_path, version, zf, fmt):
    path = _ours(tmp_path, version)
    nodes = list(Reader(parse_url(str(path), fmt=fmt()))())
    image = next(n for n in nodes if n.load(Multiscales) and not n.load(Label))
    assert [d.shape for d in image.data] == [(700, 520), (350, 260)]
    np.testing.assert_array_equal(np.asarray(image.data[0]), _img())
    scale = image.metadata["coordinateTransformations"][1][0]["scale"]
    assert scale == [1.0, 1.0]
    label = next(n for n in nodes if n.load(Label))
    assert label.metadata["properties"][2]["name"] == "hOc1"
