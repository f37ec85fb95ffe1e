"""Bad input gives one clear SectionError naming the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

from cytowords.sections import SectionError, open_section, write_section


def _ngff3(path, data: np.ndarray, unit: str | None = "micrometer") -> None:
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.create_array("0", data=data)
    axes = [
        {"name": n, "type": "space", **({"unit": unit} if unit else {})}
        for n in "zyx"[-data.ndim :]
    ]
    root.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": axes,
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": [1.0] * data.ndim}
                        ],
                    }
                ],
            }
        ],
    }


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.ome.zarr"
    with pytest.raises(SectionError, match="nope.ome.zarr.*no such file") as exc:
        open_section(missing)
    assert isinstance(exc.value, FileNotFoundError)


def test_non_zarr_directory(tmp_path):
    d = tmp_path / "folder"
    d.mkdir()
    (d / "notes.txt").write_text("hello")
    with pytest.raises(SectionError, match="folder: directory is not a zarr store"):
        open_section(d)


def test_unsupported_file(tmp_path):
    f = tmp_path / "image.bmp"
    f.write_bytes(b"BM")
    with pytest.raises(SectionError, match="image.bmp: unsupported file type"):
        open_section(f)


def test_3d_array_rejected(tmp_path):
    _ngff3(tmp_path / "stack.zarr", np.zeros((4, 64, 64), np.uint8))
    with pytest.raises(SectionError, match=r"stack.zarr.*\(4, 64, 64\).*2D grayscale"):
        open_section(tmp_path / "stack.zarr")


def test_multichannel_tiff_rejected(tmp_path):
    """RGB(A) opens as grey (test_sections_colour); 5 samples per pixel is no scan we know."""
    tifffile.imwrite(
        tmp_path / "five.tif", np.zeros((64, 64, 5), np.uint8), photometric="minisblack",
        planarconfig="contig",
    )  # fmt: skip
    with pytest.raises(SectionError, match=r"five.tif: 5-sample TIFF.*grayscale or RGB"):
        open_section(tmp_path / "five.tif")


def test_missing_pixel_size_needs_argument(tmp_path):
    _ngff3(tmp_path / "nounit.zarr", np.ones((64, 64), np.uint8), unit=None)
    with pytest.raises(SectionError, match="nounit.zarr: no physical pixel size.*pixel_size_um"):
        open_section(tmp_path / "nounit.zarr")
    s = open_section(tmp_path / "nounit.zarr", pixel_size_um=2.5)
    assert s.pixel_size_um[0] == 2.5


def test_plain_array_without_pixel_size(tmp_path):
    zarr.create_array(str(tmp_path / "p.zarr"), data=np.ones((32, 32), np.uint8))
    with pytest.raises(SectionError, match="p.zarr: no physical pixel size"):
        open_section(tmp_path / "p.zarr")
    with pytest.raises(SectionError, match="pixel_size_um=-1"):
        open_section(tmp_path / "p.zarr", pixel_size_um=-1)


@pytest.mark.parametrize("zf,meta", [(2, ".zattrs"), (3, "zarr.json")])
def test_corrupt_metadata(tmp_path, zf, meta):
    root = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w", zarr_format=zf)
    root.create_array("0", data=np.ones((8, 8), np.uint8))
    root.attrs["multiscales"] = []
    (tmp_path / "bad.zarr" / meta).write_text('{"multiscales": [ {"axes": ')
    with pytest.raises(SectionError, match=rf"bad.zarr/{meta}: corrupt zarr metadata"):
        open_section(tmp_path / "bad.zarr")


def test_malformed_multiscales(tmp_path):
    root = zarr.open_group(str(tmp_path / "m.zarr"), mode="w", zarr_format=2)
    root.attrs["multiscales"] = [{"version": "0.4", "datasets": [{"path": "missing"}]}]
    with pytest.raises(SectionError, match="m.zarr: dataset 'missing'"):
        open_section(tmp_path / "m.zarr")


def test_zero_sized_array(tmp_path):
    _ngff3(tmp_path / "empty.zarr", np.zeros((0, 16), np.uint8))
    with pytest.raises(SectionError, match=r"empty.zarr/0: zero-sized array of shape \(0, 16\)"):
        open_section(tmp_path / "empty.zarr")


def test_write_errors(tmp_path):
    with pytest.raises(SectionError, match="pixel_size_um is required"):
        write_section(tmp_path / "a.zarr", np.ones((8, 8), np.uint8))
    with pytest.raises(SectionError, match=r"shape \(2, 8, 8\).*2D grayscale"):
        write_section(tmp_path / "a.zarr", np.ones((2, 8, 8), np.uint8), pixel_size_um=1)
    with pytest.raises(SectionError, match="ngff_version='0.3'"):
        write_section(tmp_path / "a.zarr", np.ones((8, 8)), pixel_size_um=1, ngff_version="0.3")
    with pytest.raises(SectionError, match="zero-sized"):
        write_section(tmp_path / "a.zarr", np.ones((0, 8)), pixel_size_um=1)
    with pytest.raises(SectionError, match="parent directory does not exist"):
        write_section(tmp_path / "x" / "a.zarr", np.ones((8, 8)), pixel_size_um=1)
    assert not (tmp_path / "a.zarr").exists()


@pytest.mark.parametrize(
    ("shape", "axes", "words"),
    [((3, 64, 48), "ZYX", "3 z-slices"), ((2, 64, 48), "CYX", "2 channels"),
     ((2, 3, 64, 48), "ZCYX", "2 z-slices × 3 channels")],
)  # fmt: skip
def test_fiji_stack_is_one_line_naming_its_planes(tmp_path, shape, axes, words):
    """A TIFF stack as Fiji saves it (z-slices, channels, or both) is no section: one line
    that says what the stack holds and how to save the plane to read."""
    path = tmp_path / "stack.tif"
    md = {"unit": "micron", "axes": axes}
    tifffile.imwrite(path, np.zeros(shape, np.uint8), imagej=True, resolution=(0.5, 0.5),
                     metadata=md)  # fmt: skip
    with pytest.raises(SectionError) as err:
        open_section(path)
    msg = str(err.value)
    assert f"stack.tif: a stack of {words} (axes {axes}" in msg and "\n" not in msg
    assert "Image › Duplicate" in msg


def test_fiji_composite_of_three_channels_is_told_how_to_make_it_rgb(tmp_path):
    """A colour scan that Fiji holds as a 3-channel composite: the line also says how to
    turn it into the one RGB image the reader takes; a 2-channel stack gets no such hint."""
    for n, hint in ((3, True), (2, False)):
        path = tmp_path / f"composite{n}.tif"
        tifffile.imwrite(path, np.zeros((n, 64, 48), np.uint8), imagej=True,
                         resolution=(0.5, 0.5), metadata={"unit": "micron", "axes": "CYX"})  # fmt: skip
        with pytest.raises(SectionError) as err:
            open_section(path)
        assert ("Image › Type › RGB Color" in str(err.value)) is hint
