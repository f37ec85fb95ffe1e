"""Markdown summary of an evaluation (the table of docs/results.md): ours beside the
paper's figures and the baselines, the robustness drop and the issue's goals."""

from __future__ import annotations

import math

PAPER = {"label_match_accuracy": 0.906, "masked_8way_accuracy": 0.686}
GOALS = {
    "label_match_accuracy": (">=", 0.95),
    "masked_8way_accuracy": (">=", 0.85),
    "open_set_auroc": (">=", 0.95),
    "unseen_rejection_rate": (">=", 0.90),
    "in_scope_false_rejection_rate": ("<=", 0.05),
}
ROWS = (
    ("label match", "label_match_accuracy"),
    ("masked 8-way (random distractors)", "masked_8way_accuracy"),
    ("masked 8-way (7 nearest distractors)", "masked_8way_nearest_accuracy"),
    ("label match, caption anchored on the head's area", "label_match_accuracy_anchored"),
    ("masked 8-way, anchored caption", "masked_8way_accuracy_anchored"),
    ("masked 8-way nearest, anchored caption", "masked_8way_nearest_accuracy_anchored"),
    ("classification accuracy (head, closed set)", "classification_accuracy"),
    ("open-set AUROC (unseen vs in-scope)", "open_set_auroc"),
    ("FPR at 95 % TPR (unseen accepted)", "fpr_at_95tpr"),
    ("unseen rejection rate @ threshold", "unseen_rejection_rate"),
    ("in-scope false rejection @ threshold", "in_scope_false_rejection_rate"),
    ("non-cortex rejection rate @ threshold", "noncortex_rejection_rate"),
    ("unseen rejected by caption", "unseen_caption_rejection_rate"),
    ("non-cortex read as no cortex (does not vote on a ROI)", "noncortex_detection_rate"),
    ("unseen read as cortex (votes on a ROI, as rejected)", "unseen_read_as_cortex_rate"),
    ("in-scope read as cortex (votes on a ROI)", "in_scope_read_as_cortex_rate"),
)
BASELINES = ("linear_head", "retrieval", "gli_profile", "oracle_text", "chance")


def _f(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _goal(key: str, v) -> str:
    if key not in GOALS or v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    op, g = GOALS[key]
    ok = v >= g if op == ">=" else v <= g
    return f"{op} {g:.2f} {'met' if ok else 'missed'}"


def summary_markdown(m: dict) -> str:
    """The main table, the robustness table and top confusions as markdown."""
    base = m.get("baselines") or {}
    names = [b for b in BASELINES if b in base]
    lines = [
        "| metric | ours | paper (BigBrain, 57 areas) | goal | "
        + " | ".join(n.replace("_", " ") for n in names)
        + " |",
        "|---" * (4 + len(names)) + "|",
    ]
    for label, key in ROWS:
        paper = _f(PAPER.get(key))
        cells = [label, _f(m.get(key)), paper, _goal(key, m.get(key))]
        cells += [_f(base[n].get(key)) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Test set: {m.get('n_patches')} patches ({m.get('n_in_scope')} in-scope over "
        f"{m.get('n_areas')} areas, {m.get('n_unseen')} of {m.get('n_unseen_areas')} unseen "
        f"areas, {m.get('n_noncortex')} non-cortex); captioned: {m.get('n_captioned')} "
        f"({m.get('n_captioned_in_scope')} in-scope).",
    ]
    rob = m.get("robustness") or {}
    if rob:
        keys = (
            "label_match_accuracy",
            "masked_8way_accuracy",
            "classification_accuracy",
            "open_set_auroc",
            "in_scope_false_rejection_rate",
            "unseen_rejection_rate",
        )
        lines += [
            "",
            "| shift | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
            "|---" * (1 + len(keys)) + "|",
            "| none (clean) | " + " | ".join(_f(m.get(k)) for k in keys) + " |",
        ]
        for shift, r in rob.items():
            cells = []
            for k in keys:
                v, c = r.get(k), m.get(k)
                d = (
                    ""
                    if v is None or c is None or math.isnan(v) or math.isnan(c)
                    else (f" ({v - c:+.3f})")
                )
                cells.append(_f(v) + d)
            lines.append(f"| {shift} | " + " | ".join(cells) + " |")
    conf = m.get("top_confusions") or []
    if conf:
        lines += [
            "",
            "Most frequent confusions of the area head (true → predicted, count): "
            + ", ".join(f"{t} → {p} ({n})" for t, p, n in conf)
            + ".",
        ]
    conf = m.get("top_caption_confusions") or []
    if conf:
        lines += [
            "",
            "Most frequent confusions of the captions (true → named area, count): "
            + ", ".join(f"{t} → {p} ({n})" for t, p, n in conf)
            + ".",
        ]
    return "\n".join(lines) + "\n"
