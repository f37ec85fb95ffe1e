"""Write the evaluation report: metrics.json, per_area.csv, plots (PNG) and examples.md.

Every file is written atomically. Plots use matplotlib's Agg canvas directly (no pyplot,
no GUI backend).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cytowords.atlas import Atlas
from cytowords.atomic import atomic_write_bytes, atomic_write_text

from . import metrics as M
from .scoring import PatchResults
from .summary import summary_markdown
from .testset import PatchSet

CSV_FIELDS = (
    "area",
    "scope",
    "n",
    "classification_accuracy",
    "false_rejection_rate",
    "rejection_rate",
    "n_captioned",
    "label_match_accuracy",
    "masked_8way_accuracy",
    "masked_8way_nearest_accuracy",
    "most_confused_with",
)


def _clean(obj):
    """JSON-safe copy: nan/inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def metrics_json(metrics: dict) -> str:
    """The metrics as indented JSON (nan -> null)."""
    return json.dumps(_clean(metrics), indent=2, sort_keys=False)


def per_area_rows(ps: PatchSet, res: PatchResults, areas: Sequence[str]) -> list[dict]:
    """One row per area present in the test set (in-scope first, then unseen)."""
    truth = ps.labels.astype(str)
    pred = np.asarray(res.pred, object)
    parsed = np.asarray(res.parsed or [None] * len(ps), object)
    cm = M.confusion_matrix(pred[ps.kind == "in_scope"], truth[ps.kind == "in_scope"], areas)
    rows = []
    for scope in ("in_scope", "unseen"):
        for a in dict.fromkeys(truth[ps.kind == scope].tolist()):
            sel = (truth == a) & (ps.kind == scope)
            cap = sel & res.captioned
            row = {
                "area": a,
                "scope": scope,
                "n": int(sel.sum()),
                "rejection_rate": M.rate(res.rejected[sel]),
                "n_captioned": int(cap.sum()),
            }
            if scope == "in_scope":
                i = list(areas).index(a)
                off = cm[i].copy()
                off[i] = 0
                row.update(
                    {
                        "classification_accuracy": M.rate((pred == truth)[sel]),
                        "false_rejection_rate": row["rejection_rate"],
                        "label_match_accuracy": M.rate((parsed == truth)[cap]),
                        "masked_8way_accuracy": M.rate(res.nway[cap])
                        if res.nway is not None
                        else float("nan"),
                        "masked_8way_nearest_accuracy": M.rate(res.nway_nearest[cap])
                        if res.nway_nearest is not None
                        else float("nan"),
                        "most_confused_with": areas[int(off.argmax())] if off.max() > 0 else "",
                    }
                )
            rows.append(row)
    return rows


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(
            {
                k: (
                    f"{v:.4f}"
                    if isinstance(v, float) and math.isfinite(v)
                    else ("" if isinstance(v, float) else v)
                )
                for k, v in r.items()
            }
        )
    return buf.getvalue()


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def confusion_png(cm: np.ndarray, labels: Sequence[str]) -> bytes:
    """Row-normalised confusion matrix (truth rows, predicted columns) as PNG bytes."""
    from matplotlib.figure import Figure

    n = len(labels)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig = Figure(figsize=(max(4, 0.16 * n + 2), max(4, 0.16 * n + 1.5)))
    ax = fig.add_subplot()
    im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=6 if n > 20 else 9)
    ax.set_yticks(range(n), labels, fontsize=6 if n > 20 else 9)
    ax.set_xlabel("predicted area (head)")
    ax.set_ylabel("true area")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return _png(fig)


def per_area_png(rows: list[dict]) -> bytes:
    """Per in-scope area: classification, label-match and masked 8-way accuracy."""
    from matplotlib.figure import Figure

    rows = [r for r in rows if r["scope"] == "in_scope"]
    keys = ("classification_accuracy", "label_match_accuracy", "masked_8way_accuracy")
    fig = Figure(figsize=(max(6, 0.22 * len(rows) + 2), 4))
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    for j, k in enumerate(keys):
        vals = [r.get(k, float("nan")) for r in rows]
        ax.bar(x + (j - 1) * 0.27, np.nan_to_num(vals), 0.27, label=k.replace("_", " "))
    ax.set_xticks(x, [r["area"] for r in rows], rotation=90, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def examples_md(ps: PatchSet, res: PatchResults, atlas: Atlas, per_area: int = 1) -> str:
    """Markdown with, per area, good and bad example captions (parsed area shown)."""
    truth = ps.labels.astype(str)
    parsed = res.parsed or [None] * len(ps)
    lines = [
        "# Example captions per area",
        "",
        "Good = the caption names the reference area; bad = it does not.",
        "",
    ]
    for scope in ("in_scope", "unseen", "none"):
        lines += [f"## {scope.replace('_', '-')}", ""]
        for a in dict.fromkeys(truth[ps.kind == scope].tolist()):
            idx = np.flatnonzero((truth == a) & (ps.kind == scope) & res.captioned)
            if not len(idx):
                continue
            good = [i for i in idx if parsed[i] == a][:per_area]
            bad = [i for i in idx if parsed[i] != a][:per_area]
            lines.append(f"### {a}" + (f" ({atlas.areas[a].name})" if a in atlas.areas else ""))
            for tag, sel in (("good", good), ("bad", bad)):
                for i in sel:
                    lines.append(
                        f"- **{tag}** (names: `{parsed[i]}`, head: `{res.pred[i]}`, "
                        f"rejected: {bool(res.rejected[i])}): {res.captions[i]}"
                    )
            lines.append("")
    return "\n".join(lines) + "\n"


def write_report(
    out: Path, metrics: dict, ps: PatchSet, res: PatchResults, areas: Sequence[str], atlas: Atlas
) -> Path:
    """Write metrics.json, per_area.csv, confusion.png, per_area_accuracy.png and
    examples.md (and summary.md) into ``out``; returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = per_area_rows(ps, res, list(areas))
    ins = ps.kind == "in_scope"
    cm = M.confusion_matrix(np.asarray(res.pred, object)[ins], ps.labels.astype(str)[ins], areas)
    metrics["top_confusions"] = [list(t) for t in M.top_confusions(cm, list(areas), 10)]
    cap = ins & res.captioned
    parsed = np.asarray(res.parsed or [None] * len(ps), object)
    cm_cap = M.confusion_matrix(parsed[cap], ps.labels.astype(str)[cap], areas)
    metrics["top_caption_confusions"] = [list(t) for t in M.top_confusions(cm_cap, areas, 10)]
    atomic_write_text(out / "metrics.json", metrics_json(metrics))
    atomic_write_text(out / "per_area.csv", _csv_text(rows))
    atomic_write_bytes(out / "confusion.png", confusion_png(cm, list(areas)))
    atomic_write_bytes(out / "per_area_accuracy.png", per_area_png(rows))
    atomic_write_text(out / "examples.md", examples_md(ps, res, atlas))
    atomic_write_text(out / "summary.md", summary_markdown(metrics))
    return out
