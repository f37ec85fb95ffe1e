"""JPEG levels of a whole-slide scan as Aperio stores them: a reduced level at exactly the
model's 64 µm/px, made by area mean from a finer one and written in JPEG tiles of 256 px
(tifffile, as the scanner's library does), read through open_section and read_fields.
Read directly, quality 70 (Aperio's default) shows its 8 × 8 blocks on such smooth tissue
and nearly every field is flagged; the model's fields are therefore read from the level 4×
finer, where the blocks average out, as the same pixels stored lossless (LZW) are. A JPEG
image with no finer level is still flagged, and the user is told what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cytowords.sections import open_section, read_fields
from cytowords.sections.quality import (
    assess_fields,
    quality_summary,
    section_tissue_threshold,
)
from cytowords.synth.section import virtual_section

MODEL_UM, FIELD_PX = 64.0, 104
GLASS = np.array([236, 234, 238], np.float32)
VIOLET = np.array([60, 20, 110], np.float32)


@pytest.fixture(scope="module")
def level_rgb() -> np.ndarray:
    """A held-out brain's section at 16 µm/px coloured cresyl violet on glass (RGB)."""
    g = np.asarray(virtual_section(203, size_mm=(40, 30), pixel_size_um=16.0).levels[0].compute())
    a = 1.0 - g.astype(np.float32)[..., None] / 255.0
    return np.clip(GLASS + a * (VIOLET - GLASS) + 0.5, 0, 255).astype(np.uint8)


def _mean_down(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[0] // f * f, a.shape[1] // f * f
    m = a[:h, :w].astype(np.float32).reshape(h // f, f, w // f, f, 3).mean(axis=(1, 3))
    return np.round(m).astype(np.uint8)


def _write_svs(path: Path, rgb: np.ndarray, quality: int | None) -> Path:
    """Aperio layout: baseline (16 µm/px), thumbnail, levels ×4 (64 µm/px) and ×16, all
    tiled 256 px; JPEG at ``quality`` or LZW (None)."""
    h, w = rgb.shape[:2]
    kw: dict = {"photometric": "rgb", "metadata": None}
    if quality is None:
        kw["compression"] = "lzw"
    else:
        kw.update(compression="jpeg", compressionargs={"level": quality})
    head = "Aperio Image Library v12.0.15 \r\n"
    with tifffile.TiffWriter(path) as tw:
        tw.write(
            rgb,
            tile=(256, 256),
            description=f"{head}{w}x{h} [0,0 {w}x{h}] (256x256) JPEG/RGB Q={quality}|MPP = 16",
            **kw,
        )
        thumb = rgb[::16, ::16].copy()
        tw.write(thumb, description=f"{head}{w}x{h} -> {thumb.shape[1]}x{thumb.shape[0]}", **kw)
        for f in (4, 16):
            lev = _mean_down(rgb, f)
            tw.write(
                lev,
                tile=(256, 256),
                description=f"{head}{w}x{h} -> {lev.shape[1]}x{lev.shape[0]}",
                **kw,
            )
    return path


def _write_single(path: Path, rgb: np.ndarray, quality: int) -> Path:
    """One JPEG image at the model's 64 µm/px (tiles of 256 px), no finer level."""
    h, w = rgb.shape[:2]
    tifffile.imwrite(
        path,
        rgb,
        photometric="rgb",
        tile=(256, 256),
        compression="jpeg",
        compressionargs={"level": quality},
        metadata=None,
        description=f"Aperio Image Library v12.0.15 \r\n{w}x{h} (256x256) JPEG/RGB|MPP = 64",
    )
    return path


def _flagged_share(path: Path, sizes: list[float]) -> float:
    """Share of the tissue fields (a 26 px grid at 64 µm/px) flagged as compressed."""
    section = open_section(path)
    assert section.pixel_size_um[: len(sizes)] == sizes
    h, w = (int(s // MODEL_UM) for s in section.shape_um)
    ys, xs = np.mgrid[
        FIELD_PX // 2 : h - FIELD_PX // 2 : 26, FIELD_PX // 2 : w - FIELD_PX // 2 : 26
    ]
    centres = (np.stack([ys.ravel(), xs.ravel()], 1) + 0.5) * MODEL_UM
    q = assess_fields(
        read_fields(section, centres, MODEL_UM, FIELD_PX), section_tissue_threshold(section)
    )
    tissue = [r != "tissue" for r in q.reasons]
    assert sum(tissue) >= 40
    return float(np.mean([r == "compression" for r, t in zip(q.reasons, tissue) if t]))


def test_jpeg_levels_are_read_for_the_model_from_a_finer_level(level_rgb, tmp_path) -> None:
    pyramid = [16.0, 64.0, 256.0]  # the ×4 level at the model's pixel size is stored
    lzw = _write_svs(tmp_path / "lzw.svs", level_rgb, None)
    assert "lossy_levels" not in open_section(lzw).metadata
    assert _flagged_share(lzw, pyramid) == 0.0
    q70 = _write_svs(tmp_path / "q70.svs", level_rgb, 70)
    assert open_section(q70).metadata["lossy_levels"] == [0, 1, 2]
    assert _flagged_share(q70, pyramid) < 0.1  # read at 64 µm/px directly: over 0.9
    assert _flagged_share(_write_svs(tmp_path / "q90.svs", level_rgb, 90), pyramid) < 0.1


def test_a_jpeg_image_without_a_finer_level_is_still_flagged(level_rgb, tmp_path) -> None:
    path = _write_single(tmp_path / "q70-64um.svs", _mean_down(level_rgb, 4), 70)
    assert _flagged_share(path, [64.0]) > 0.9


def test_the_level_read_for_a_jpeg_pyramid() -> None:
    from cytowords.sections.window import _level_for

    sizes = [16.0, 64.0, 256.0]
    assert _level_for(sizes, 64.0) == 1  # lossless: the level at the request
    assert _level_for(sizes, 64.0, lossy={0, 1, 2}) == 0  # 4x finer
    assert _level_for(sizes, 128.0, lossy={1}) == 0  # 64 is only 2x finer: read 16
    assert _level_for(sizes, 256.0, lossy={2}) == 1  # 64 is 4x finer
    assert _level_for([32.0, 64.0], 64.0, lossy={1}) == 1  # no level 4x finer: as stored
    assert _level_for(sizes, 300.0, lossy={0, 1, 2}) == 1


def test_compressed_fields_tell_the_user_what_to_do() -> None:
    s = quality_summary({"compression": 5}, 5)
    assert s.startswith("5 of 5 fields with JPEG compression artefacts: not used; ")
    assert "without JPEG" in s and "full-resolution level" in s
    assert quality_summary({"focus": 3}, 12) == "3 of 12 fields out of focus: not used"
