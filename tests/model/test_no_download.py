"""Nothing in the package may download: every Hugging Face loader call in ``src/`` passes
``local_files_only=True`` (a source scan, so that a new call without it fails here)."""

from __future__ import annotations

import ast
from pathlib import Path

import cytowords

#: loaders that fetch from the Hugging Face Hub unless told not to
LOADERS = {"from_pretrained", "hf_hub_download", "snapshot_download", "cached_file"}
#: modules whose mere use would reach the network
FORBIDDEN_CALLS = {("torch", "hub"), ("urllib", "request"), ("requests", "get")}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _loader_calls() -> list[tuple[str, int, str, bool]]:
    """``(file, line, loader, has local_files_only=True)`` of every loader call in src/."""
    root = Path(cytowords.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in LOADERS:
                local = any(
                    k.arg == "local_files_only"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is True
                    for k in node.keywords
                )
                found.append((str(path.relative_to(root)), node.lineno, _name(node.func), local))
    return found


def test_every_hugging_face_loader_call_is_local_only():
    calls = _loader_calls()
    # the scan sees the known loaders (tokenizer, config, LM weights, LoRA adapter, the
    # run's own tokenizer): a scan that found nothing would pass whatever the code does
    assert len(calls) >= 5, calls
    assert any(f.endswith("bundle/lm.py") and n == "from_pretrained" for f, _, n, _ in calls)
    missing = [f"{f}:{line} {n}" for f, line, n, local in calls if not local]
    assert missing == [], f"loader calls without local_files_only=True: {missing}"


def test_no_module_reaches_the_network_by_other_doors():
    """No ``torch.hub``, ``urllib.request`` or ``requests`` use anywhere in the package."""
    root = Path(cytowords.__file__).parent
    used = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if (node.value.id, node.attr) in FORBIDDEN_CALLS:
                    used.append(f"{path.relative_to(root)}:{node.lineno}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n in ("requests", "urllib.request", "torch.hub") for n in names):
                    used.append(f"{path.relative_to(root)}:{node.lineno}")
    assert used == []
