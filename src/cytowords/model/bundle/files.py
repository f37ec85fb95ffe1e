"""File-level helpers of the model bundle: hashing and verification of its files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HASHES_FILE = "hashes.json"


class BundleError(ValueError):
    """A model bundle is missing, malformed, tampered with or of an unsupported format."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _bundle_files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() != HASHES_FILE
    )


def write_hashes(root: Path) -> None:
    """Write ``hashes.json`` with the sha256 of every other file under ``root``."""
    hashes = {rel: sha256_file(root / rel) for rel in _bundle_files(root)}
    (root / HASHES_FILE).write_text(
        json.dumps({"algorithm": "sha256", "files": hashes}, indent=1), encoding="utf-8"
    )


def verify_hashes(root: Path) -> None:
    """Check every file listed in ``hashes.json`` and refuse unlisted files.

    Raises :class:`BundleError` naming the file and the expected vs found digest."""
    hp = root / HASHES_FILE
    if not hp.is_file():
        raise BundleError(f"model bundle {root}: {HASHES_FILE} is missing; cannot verify files")
    try:
        listed = json.loads(hp.read_text(encoding="utf-8"))["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BundleError(f"model bundle {root}: {HASHES_FILE} is malformed ({exc})") from None
    for rel, expected in listed.items():
        path = root / rel
        if not path.is_file():
            raise BundleError(f"model bundle {root}: file {rel} listed in {HASHES_FILE} is missing")
        found = sha256_file(path)
        if found != expected:
            raise BundleError(
                f"model bundle {root}: file {rel} has been modified or corrupted "
                f"(sha256 expected {expected}, found {found})"
            )
    extra = [rel for rel in _bundle_files(root) if rel not in listed]
    if extra:
        raise BundleError(
            f"model bundle {root}: files not listed in {HASHES_FILE}: {', '.join(extra[:5])}; "
            "a bundle may only contain the files it was written with"
        )
