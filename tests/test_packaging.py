"""The plugin is found by napari/npe2 from the editable install and from a built wheel."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_validates() -> None:
    from npe2 import PluginManifest

    mf = PluginManifest.from_file(ROOT / "napari.yaml")
    mf.validate_imports()  # every python_name in the manifest imports
    assert mf.name == "napari-cytowords"
    assert mf.contributions.readers, "the reader contribution is missing"


def test_symlinked_manifest_is_the_root_manifest() -> None:
    link = ROOT / "src" / "cytowords" / "napari.yaml"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "napari.yaml").resolve()


def test_editable_install_is_discovered_by_npe2() -> None:
    from npe2 import PluginManager

    pm = PluginManager()
    pm.discover()
    mf = pm.get_manifest("napari-cytowords")
    assert mf.display_name == "Cytoarchitecture in Words"
    ids = {c.id for c in mf.contributions.commands}
    assert "napari-cytowords.get_reader" in ids


@pytest.mark.slow
def test_built_wheel_ships_manifest_and_is_discovered(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(out.glob("napari_cytowords-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "cytowords/napari.yaml" in names
        text = zf.read("cytowords/napari.yaml").decode()
        assert "napari-cytowords.get_reader" in text
        eps = next(n for n in names if n.endswith("entry_points.txt"))
        assert "napari.manifest" in zf.read(eps).decode()
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    # -S: skip site processing, so the editable install's path hook is inactive and the
    # wheel's copy (first on sys.path) is what imports.
    site_packages = sysconfig.get_paths()["purelib"]
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]; sys.path.append(sys.argv[2]);"
        "import cytowords, npe2;"
        "assert cytowords.__file__.startswith(sys.argv[1]), cytowords.__file__;"
        "pm = npe2.PluginManager(); pm.discover();"
        "mf = pm.get_manifest('napari-cytowords');"
        "print(mf.name, len(mf.contributions.commands))"
    )
    res = subprocess.run(
        [sys.executable, "-S", "-c", code, str(target), site_packages],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("napari-cytowords ")
