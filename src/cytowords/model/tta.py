"""Test-time augmentation: embeddings averaged over mirror and rotation views of a field.

Cortex can lie at any angle in a section and a mirrored field is as valid as the
original (the other hemisphere), so the area a field shows does not change under the 8
symmetries of the square (rotations by 90° and mirrorings). The encoder learns that
invariance only approximately; averaging its embeddings over ``n`` of these views makes
the prediction more stable: more accurate and with better open-set scores on held-out
brains (figures per bundle: docs/benchmarks.md, "Test-time views",
``benchmarks/tta_views.py``). The cost is ``n`` encoder passes per field.

The open-set threshold depends on the number of views (averaged embeddings are less
noisy), so a bundle stores one calibrated threshold per view count
(:meth:`cytowords.model.ModelBundle.set_views`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: view counts a bundle can be calibrated for (prefixes of the view order below)
VIEW_COUNTS = (1, 2, 4, 8)


def check_views(views: int) -> int:
    """``views`` as an int if it is one of :data:`VIEW_COUNTS`, else ``ValueError``."""
    if isinstance(views, bool) or int(views) != views or int(views) not in VIEW_COUNTS:
        raise ValueError(
            f"views must be one of {', '.join(map(str, VIEW_COUNTS))} (test-time "
            f"mirror/rotation views per field), got {views!r}"
        )
    return int(views)


def view_table(config: dict[str, Any]) -> tuple[int, dict[int, float]]:
    """``(default views, {views: open-set threshold})`` of a bundle's ``config.json`` dict
    (bundles written before test-time views: 1 view with the config's ``threshold``)."""
    tta = config.get("tta") or {}
    table = tta.get("thresholds") or {"1": config.get("threshold", float("inf"))}
    return int(tta.get("views", 1)), {int(k): float(v) for k, v in table.items()}


def noncortex_table(config: dict[str, Any]) -> dict[int, float]:
    """``{views: non-cortex level}`` of a bundle's ``config.json`` dict: the open-set score
    at and above which a field reads as no cortex at all (white matter, background) and
    does not vote on a ROI's verdict (:func:`cytowords.describe.result.aggregate`).
    Empty for bundles written before this level existed (every field then votes)."""
    tta = config.get("tta") or {}
    return {int(k): float(v) for k, v in (tta.get("noncortex") or {}).items()}


def resolve_views(table: dict[int, float], default: int, views: int | None) -> int:
    """``views`` (None: ``default``) if ``table`` has a threshold calibrated for it, else
    ``ValueError`` naming the calibrated counts."""
    n = default if views is None else check_views(views)
    if n not in table:
        raise ValueError(
            f"views={n}: the model bundle has open-set thresholds calibrated for "
            f"{sorted(table)} views per field, not for {n} (mirror/rotation views)"
        )
    return n


#: the 8 symmetries of the square in view order (identity, left-right mirror, rotations
#: by 90°, 180°, 270°, up-down mirror, transpose, anti-transpose)
_SQUARE_OPS = (
    lambda t: t,
    lambda t: t.flip(-1),
    lambda t: t.rot90(1, (-2, -1)),
    lambda t: t.rot90(2, (-2, -1)),
    lambda t: t.rot90(3, (-2, -1)),
    lambda t: t.flip(-2),
    lambda t: t.transpose(-2, -1),
    lambda t: t.flip((-2, -1)).transpose(-2, -1),
)
#: the inverse of each view (rotations by 90° and 270° undo each other; the others are
#: their own inverse)
_SQUARE_INVERSES = tuple(_SQUARE_OPS[k] for k in (0, 1, 4, 3, 2, 5, 6, 7))


def dihedral_views(x: Tensor, views: int) -> list[Tensor]:
    """The first ``views`` symmetries of square patches ``(B, C, H, W)``.

    Order: identity, left-right mirror, rotation by 90°, by 180°, by 270°, up-down
    mirror, transpose, anti-transpose (so 2 views = identity + mirror, 4 add two
    rotations). Non-square patches use identity, the two mirrors and the 180° rotation
    and allow at most 4 views."""
    n = check_views(views)
    h, w = x.shape[-2:]
    if h == w:
        ops = _SQUARE_OPS
    else:
        if n > 4:
            raise ValueError(f"non-square patches {h}x{w} allow at most 4 views, got {n}")
        ops = (lambda t: t, lambda t: t.flip(-1), lambda t: t.flip(-2), lambda t: t.flip((-2, -1)))
    return [op(x) for op in ops[:n]]


def dense_embed_views(encoder: Any, x: Tensor, views: int = 1, at: Tensor | None = None) -> Tensor:
    """Dense embeddings of an image ``x`` ``(N, 1, H, W)`` averaged over ``views`` dihedral
    views, equal to :func:`embed_views` of each field: ``(N, D, H', W')`` for every
    position, or ``(N, K, D)`` for the positions ``at`` ``(K, 2)`` (row, column) only.

    Each view (same order as :func:`dihedral_views`; any H, W, all 8 views) transforms the
    whole image, which is first cut to the fields it holds whole (``input_px + s (H' - 1)``
    rows from the top, likewise columns; ``s = encoder.feature_stride_px``), and runs the
    encoder's ``dense_features`` on it (with the same view of the encoder's
    ``dense_inputs``, computed once); the features of each wanted position are read back
    in the original orientation and go through ``project_hidden`` (per view); the hidden
    layers averaged over the views go through ``project_out`` (affine) once. Output ``(i,
    j)`` is therefore the ``views``-view embedding of the field centred at input pixel
    ``(c0 + i s, c0 + j s)``, ``c0 = encoder.input_px / 2``, as for ``dense_embed``. The
    encoder must support dense evaluation (``NotImplementedError`` otherwise)."""
    n = check_views(views)
    s, size = int(encoder.feature_stride_px), int(encoder.input_px)
    h, w = x.shape[-2:]
    if s > 0 and min(h, w) >= size:
        x = x[..., : size + s * ((h - size) // s), : size + s * ((w - size) // s)]
    z = encoder.dense_inputs(x)  # once: a view of x gives that view of z
    hidden = None
    shape = None
    for op, inverse in zip(_SQUARE_OPS[:n], _SQUARE_INVERSES[:n], strict=True):
        f = encoder.dense_features(op(x), op(z))  # (N, F, H'', W'') in the view's orientation
        # where each position of the original orientation lies in the view's output
        src = inverse(torch.arange(f.shape[-2] * f.shape[-1], device=f.device).reshape(f.shape[-2:]))
        shape = src.shape
        src = src.flatten() if at is None else src[at[:, 0], at[:, 1]]
        hid = encoder.project_hidden(f.flatten(2)[:, :, src].transpose(1, 2))  # (N, K, H)
        hidden = hid if hidden is None else hidden + hid
    assert hidden is not None and shape is not None
    out = encoder.project_out(hidden / n)  # (N, K, D)
    if at is not None:
        return out
    return out.transpose(1, 2).unflatten(2, tuple(shape))


def embed_views(encoder: Any, x: Tensor, views: int = 1) -> Tensor:
    """Encoder embeddings ``(B, D)`` of patches ``(B, 1, H, W)`` averaged over ``views``
    dihedral views (one batched encoder call of ``views * B`` patches)."""
    if check_views(views) == 1:
        return encoder.embed(x)
    return per_view_embeddings(encoder, x, views).mean(0)


def per_view_embeddings(encoder: Any, x: Tensor, views: int) -> Tensor:
    """Embeddings of each view separately, ``(views, B, D)``, from one batched encoder
    call: the mean of the first ``k`` rows is the ``k``-view embedding (used to calibrate
    every view count at once)."""
    n = check_views(views)
    z = encoder.embed(torch.cat(dihedral_views(x, n)))
    return z.reshape(n, x.shape[0], -1)
