"""The data spec refuses mistakes before any work; the summary counts what training samples.

Sections are the hand-made ones of ``training_sections`` (three area bands over white matter
and slide), written as OME-Zarr: ``named*`` carry NGFF label names (as ``write_section``
writes a :class:`LabelImage` with names), ``bare*`` only integer atlas label numbers.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

import dask.array as da
import pytest
import torch

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.cli import main
from cytowords.sections import LabelImage, write_section
from cytowords.training.data.patches import sample_section
from cytowords.training.data.spec import DataSpecError, read_data_spec
from cytowords.training.data.spec_check import check_data_spec, patch_configs
from cytowords.training.presets import PRESETS
from tests.support.training_sections import AREAS, PX, make_section

SMOKE = PRESETS["smoke"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("spec")
    names = load_atlas().label_names()
    for brain in (0, 1, 2):
        img, lab = make_section(brain)
        labels = LabelImage([da.from_array(lab, chunks=256)], [PX], names)
        kw = {"pixel_size_um": PX, "chunk_px": 1024}  # one chunk per level: quick to write
        write_section(d / f"named{brain}.ome.zarr", img, labels={"areas": labels}, **kw)
        write_section(d / f"bare{brain}.ome.zarr", img, labels={"areas": lab}, **kw)
    return d


def _spec(d: Path, text: str, name: str = "spec.yaml") -> Path:
    (d / name).write_text(text, encoding="utf-8")
    return d / name


GOOD = (
    "areas: [hOc1, 4a, 44]\nsections:\n"
    "  - {path: named0.ome.zarr, brain: B0, split: train}\n"
    "  - {path: named1.ome.zarr, brain: B1, split: train}\n"
    "  - {path: named2.ome.zarr, brain: B2, split: val}\n"
)


def _problems(path: Path) -> list[str]:
    with pytest.raises(DataSpecError) as info:
        check_data_spec(path, SMOKE)
    for line in info.value.problems:
        assert line.startswith(f"data spec {path}: ")
    return info.value.problems


def test_valid_spec_counts_what_training_samples(data_dir):
    checked = check_data_spec(_spec(data_dir, GOOD, "good.yaml"), SMOKE)
    assert checked.areas == AREAS and checked.notes == []
    cfgs = patch_configs(SMOKE)
    for split in ("train", "val"):
        got: Counter = Counter()
        for ls in checked.spec.sections:
            if ls.split == split:
                got.update(sample_section(ls, AREAS, cfgs[split]).labels.tolist())
        assert checked.counts[split] == dict(got)
    assert checked.counts["train"]["hOc1"] == 2 * SMOKE.n_per_area
    table = checked.table().splitlines()
    assert table[0].split() == ["area", "train", "val"]
    assert table[1].split() == ["hOc1", "12", "3"]
    assert table[-1].split() == ["brains", "2", "1"]
    assert table[4].split()[0] == NONE_ID


def test_check_option_prints_summary_and_trains_nothing(data_dir, tmp_path, capsys):
    spec = _spec(data_dir, GOOD, "good.yaml")
    rc = main(
        [
            "train",
            "--preset",
            "smoke",
            "--data",
            str(spec),
            "--check",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "fields per area and split" in out and "nothing was trained" in out
    assert any(line.split() == ["44", "12", "3"] for line in out.splitlines())
    assert not (tmp_path / "run").exists()


def test_label_values_without_names_are_refused_unless_declared_atlas(data_dir, capsys):
    bare = GOOD.replace("named", "bare")
    problems = _problems(_spec(data_dir, bare, "bare.yaml"))
    assert len(problems) == 3
    assert "sections[0] (bare0.ome.zarr): label values 1, 13, 43 have no area names" in problems[0]
    assert "label_names: atlas" in problems[0]
    # the CLI: one line per problem, exit 2, nothing trained
    rc = main(["train", "--preset", "smoke", "--data", str(data_dir / "bare.yaml"), "--check"])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 4 and "3 problems in the data spec" in err[-1]
    declared = check_data_spec(_spec(data_dir, "label_names: atlas\n" + bare, "atlas.yaml"), SMOKE)
    assert declared.areas == AREAS
    assert declared.spec.sections[0].label_names == {1: "hOc1", 13: "4a", 43: "44"}
    # explicit names per value are used as given
    own = bare.replace(
        "brain: B2, split: val}", "brain: B2, split: val, label_names: {1: hOc1, 13: 4a, 43: 44}}"
    )
    problems = _problems(_spec(data_dir, own, "own.yaml"))
    assert len(problems) == 2 and "sections[2]" not in " ".join(problems)


def test_alias_in_areas_is_resolved_with_a_note(data_dir):
    spec = read_data_spec(_spec(data_dir, GOOD.replace("[hOc1,", "[V1,"), "alias.yaml"))
    assert spec.areas == AREAS
    assert spec.notes == [
        f"data spec {data_dir / 'alias.yaml'}: areas[0]: 'V1' is an alias of hOc1; using hOc1"
    ]


def test_typo_and_unknown_keys_are_refused_together_with_suggestions(data_dir):
    text = GOOD.replace("[hOc1,", "[hOc9,").replace("areas:", "new_area: [X]\nareas:")
    text = text.replace("brain: B1, split: train", "brain: B1, splt: train")
    problems = _problems(_spec(data_dir, text, "typos.yaml"))
    assert len(problems) == 3
    assert "unknown key 'new_area' (did you mean 'new_areas'?)" in problems[0]
    assert "areas[0]: area 'hOc9' is not an atlas id or alias (did you mean" in problems[1]
    assert "hOc1" in problems[1] and "hOc2" in problems[1]
    assert (
        "sections[1] (named1.ome.zarr): unknown key 'splt' (did you mean 'split'?)" in problems[2]
    )


def test_areas_outside_the_atlas_only_when_declared(data_dir):
    names = "label_names: {1: hOc1, 13: Xq1, 43: 44}"
    text = (
        "areas: [hOc1, Xq1, 44]\nsections:\n"
        f"  - {{path: bare0.ome.zarr, brain: B0, {names}}}\n"
        f"  - {{path: bare1.ome.zarr, brain: B1, {names}}}\n"
        f"  - {{path: bare2.ome.zarr, brain: B2, split: val, {names}}}\n"
    )
    problems = _problems(_spec(data_dir, text, "new.yaml"))
    assert "areas[1]: area 'Xq1' is not an atlas id or alias" in problems[0]
    assert "new_areas" in problems[0]
    assert any("sections[0] (bare0.ome.zarr): label value 13: area 'Xq1'" in p for p in problems)
    checked = check_data_spec(_spec(data_dir, "new_areas: [Xq1]\n" + text, "new2.yaml"), SMOKE)
    assert checked.areas == ["hOc1", "Xq1", "44"]
    assert checked.counts["train"]["Xq1"] == 2 * SMOKE.n_per_area


def test_too_few_fields_and_a_wrong_pixel_size_are_refused(data_dir):
    few = _problems(_spec(data_dir, "min_fields: 13\n" + GOOD, "few.yaml"))
    assert len(few) == 4
    assert "area 'hOc1': 12 training fields, fewer than the minimum of 13" in few[0]
    assert "sections[0] (named0.ome.zarr), 30.1 × 40 mm at 64 µm/px" in few[0]
    assert "split 'val': 9 area fields in all, fewer than the minimum of 13" in few[3]
    # 6.4 instead of 64 µm/px: a section of 3 × 4 mm whose areas hold no 2 mm field
    text = GOOD.replace("brain: B0, split: train", "brain: B0, split: train, pixel_size_um: 6.4")
    text = text.replace("  - {path: named1.ome.zarr, brain: B1, split: train}\n", "")
    px = _problems(_spec(data_dir, text, "px.yaml"))
    assert len(px) == 3
    assert "area 'hOc1': labelled on 0.47 field footprints in all" in px[0]
    assert "3.01 × 4 mm at 6.4 µm/px: check the pixel size" in px[0]


# --- your own encoder from the CLI ---------------------------------------------------------


class _GreyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 16, 5, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        return torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)


class _RgbNet(_GreyNet):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 5, stride=2)


def _encoder_args(path: Path, dim: int = 32) -> list[str]:
    return [
        "--encoder-torchscript", str(path), "--encoder-pixel-size-um", "64",
        "--encoder-patch-px", "32", "--encoder-dim", str(dim),
    ]  # fmt: skip


def test_torchscript_encoder_through_the_cli(data_dir, tmp_path, capsys, monkeypatch):
    """Train on the user's TorchScript net with the smoke preset (fewer steps, to keep the
    test short), --quiet: no progress bar (Hugging Face's "Writing model shards"
    included); the bundle describes a section."""
    from cytowords.describe import Describer
    from cytowords.regions import Roi

    fast = SMOKE.with_(head_steps=20, caption_steps=5, tta_views=1, threads=1)
    monkeypatch.setitem(PRESETS, "smoke", fast)
    torch.manual_seed(0)
    ts = tmp_path / "net.pt"
    torch.jit.script(_GreyNet().eval()).save(str(ts))
    spec = _spec(data_dir, GOOD, "good.yaml")
    out = tmp_path / "run"
    args = ["train", "--preset", "smoke", "--data", str(spec), "--out", str(out), "--quiet"]
    assert main([*args, *_encoder_args(ts)]) == 0
    cap = capsys.readouterr()
    assert "fields per area and split" in cap.out and "bundle:" in cap.out
    assert "it/s" not in cap.err and "shards" not in cap.err and "%|" not in cap.err
    assert not (out / "encoder" / "losses.json").exists()  # used frozen, no pretraining
    d = Describer(out / "bundle", device="cpu")
    assert d.bundle.pixel_size_um == 64.0 and d.bundle.embed_dim == 32
    from cytowords.sections import open_section

    res = d.describe_roi(
        open_section(data_dir / "named2.ome.zarr"), Roi.rectangle(1000, 1000, 9000, 9000)
    )
    assert res.n_patches > 0 and res.caption


def test_encoder_probe_refuses_bad_networks_in_one_line(tmp_path, capsys):
    rgb = tmp_path / "rgb.pt"
    torch.jit.script(_RgbNet().eval()).save(str(rgb))
    assert main(["train", "--preset", "smoke", "--check", *_encoder_args(rgb)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "expects 3-channel input, but cytowords gives (B, 1, H, W) grayscale" in err[0]
    grey = tmp_path / "grey.pt"
    torch.jit.script(_GreyNet().eval()).save(str(grey))
    assert main(["train", "--preset", "smoke", "--check", *_encoder_args(grey, dim=64)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "returns (2, 32) for a probe batch" in err[0]
        and "expected (2, 64)" in err[0]
    )
    assert main(["train", "--preset", "smoke", "--check", "--encoder-torchscript", str(grey)]) == 2
    assert (
        "also needs --encoder-pixel-size-um, --encoder-patch-px, --encoder-dim"
        in capsys.readouterr().err
    )
    assert main(["train", "--preset", "smoke", "--check", *_encoder_args(grey)]) == 0


# --- bundles and files follow the user's umask ---------------------------------------------


def _modes(root: Path) -> set[tuple[str, int]]:
    out = {("dir", stat.S_IMODE(root.stat().st_mode))}
    for p in root.rglob("*"):
        out.add(("dir" if p.is_dir() else "file", stat.S_IMODE(p.stat().st_mode)))
    return out


@pytest.mark.parametrize(
    "umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_bundles_and_files_are_written_with_the_umask(tmp_path, umask, file_mode, dir_mode):
    from cytowords.atomic import atomic_write_text
    from cytowords.training.data.patches import PatchConfig, PatchSet
    from tests.support.tiny_bundle import make_tiny_bundle

    old = os.umask(umask)
    try:
        bundle = make_tiny_bundle(tmp_path / "bundle")
        text = atomic_write_text(tmp_path / "rois.geojson", "{}")
        npz = PatchSet.concat([], PatchConfig().patch_px).save(tmp_path / "data" / "train.npz")
    finally:
        os.umask(old)
    assert _modes(bundle) == {("dir", dir_mode), ("file", file_mode)}
    assert stat.S_IMODE(text.stat().st_mode) == file_mode
    assert stat.S_IMODE(npz.stat().st_mode) == file_mode


# --- a section coarser than the encoder reads ----------------------------------------------


def test_describe_and_map_warn_on_a_section_coarser_than_the_encoder(tmp_path, capsys, tiny_bundle):
    """The tiny bundle reads 16 µm/px: a 32 µm/px section is read upsampled (warned, one
    line in the CLI); a 20 µm/px one (1.25×) is not warned about."""
    import warnings

    from cytowords.describe import Describer
    from cytowords.mapping.plan import plan_map
    from cytowords.regions import Roi
    from cytowords.sections import Section
    from cytowords.sections.quality import CoarseSectionWarning

    bundle = tiny_bundle
    img = make_section(0)[0][:100, :100]  # a small piece: 3.2 mm at 32 µm/px
    d = Describer(bundle, device="cpu")
    roi = Roi.rectangle(500, 500, 1500, 1500)
    for px, warned in ((32.0, True), (20.0, False)):
        sec = Section([da.from_array(img, chunks=256)], [px], f"s{px:g}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            d.describe_rois(sec, [roi, roi])  # checked once per job, not once per ROI
            plan_map(sec, str(bundle), device="cpu")
        coarse = [w for w in caught if issubclass(w.category, CoarseSectionWarning)]
        assert len(coarse) == (2 if warned else 0)
        if warned:
            assert "32 µm/px at its finest, 2× coarser than the 16 µm/px the model reads" in str(
                coarse[0].message
            )
    path = write_section(tmp_path / "coarse.ome.zarr", img, pixel_size_um=32.0, chunk_px=1024)
    rc = main(["describe", str(path), "--roi", "500,500,1500,1500", "--model", str(bundle)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert rc == 0 and len(err) == 1
    assert err[0].startswith("cytowords describe: warning: section 'coarse'")
