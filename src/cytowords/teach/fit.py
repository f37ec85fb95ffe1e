"""Teach an area model from named regions: fields -> embeddings -> cross-validated linear
discriminant with an "other" threshold -> a model bundle.

1. Fields: squares of the base bundle's field size (``patch_px`` px at its µm/px) on a grid
   of a quarter field inside each region (:func:`cytowords.regions.roi.patch_grid`), read
   by the one field reader; fields the base bundle's cortex detector reads as no cortex
   (white matter, background of a loosely drawn region) are left out.
2. Features: the base encoder's embeddings. With ``compare_profiles`` the readout's
   profile features of each whole region (:mod:`cytowords.measure`) are validated the same
   way, at the level of regions, and reported beside the embeddings' region accuracy.
3. Model: class means and one shared covariance, shrunk towards a scaled identity by the
   Ledoit–Wolf estimate (many dimensions, few fields); the head is the linear discriminant
   (logits ``-D²/2``) and the open-set score the ratio of the squared Mahalanobis
   distances to the nearest and the second nearest class mean
   (:class:`cytowords.model.head.OpenSetScorer` mode ``distance_ratio``). Fields of a
   brain or scan the means were not taken from lie further from every mean, so a
   threshold on the distance itself, calibrated on the user's sections, accepts untaught
   cortex of a new brain; the ratio does not grow with that shift.
4. Validation, before use: leave one section out (with one section: leave one half of
   each region out, said in the result). Fields of the held-out section are named by the
   model fitted on the others; the "other" threshold is the score that
   :data:`IN_CLASS_ACCEPT` of the held-out fields of taught areas stay under, so that
   cortex of an untaught area, which lies further from every class mean, is called
   "other" rather than forced into a taught area.
5. The final model is fitted on all fields with the cross-validated threshold; the base's
   scale head comes along for the pixel-size check (:func:`carried_scale_head`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..jobs import Cancelled, Progress, is_cancelled
from .annotations import Annotation, TeachError, check_inside, group_names

#: share of held-out fields of taught areas accepted at the "other" threshold
IN_CLASS_ACCEPT = 0.95
#: fields further from every class mean than this many times the distance that
#: :data:`IN_CLASS_ACCEPT` of held-out fields stay within are "other" whatever the ratio
DISTANCE_CAP_FACTOR = 2.0
#: an area needs at least this many fields of cortex over all its regions
MIN_FIELDS = 4
#: field grid spacing inside a region, as a fraction of the field side
STRIDE_FRACTION = 0.25
#: most fields read per region (the grid coarsens beyond)
MAX_FIELDS_PER_REGION = 300
#: what the taught bundle records as its kind (config ``extra.taught``)
TAUGHT_KIND = "cytowords-taught"


@dataclass
class CvResult:
    """Cross-validated result on held-out sections (shares of held-out fields).

    ``accuracy``: named right (before the threshold); ``accepted``: under the "other"
    threshold; ``correct_accepted``: both; ``per_area``: name -> fields, accuracy,
    accepted; ``scheme``: how fields were held out; ``threshold``: the calibrated
    open-set threshold (distance ratio, 0..1); ``distance_cap``: the squared distance
    beyond which a field is "other" whatever its ratio."""

    features: str
    scheme: str
    folds: int
    accuracy: float
    accepted: float
    correct_accepted: float
    threshold: float
    per_area: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    distance_cap: float = float("inf")
    #: held-out regions named right by the majority of their fields (embeddings) and,
    #: when measured, by the readout's profile features of the whole region
    region_accuracy: float = float("nan")
    profile_region_accuracy: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (rounded)."""

        def r(v: float) -> float | None:
            return None if not math.isfinite(v) else round(float(v), 4)

        return {
            "features": self.features,
            "scheme": self.scheme,
            "folds": self.folds,
            "accuracy": r(self.accuracy),
            "accepted": r(self.accepted),
            "correct_accepted": r(self.correct_accepted),
            "threshold": r(self.threshold),
            "distance_cap": r(self.distance_cap),
            "region_accuracy": r(self.region_accuracy),
            "profile_region_accuracy": r(self.profile_region_accuracy),
            "in_class_accept": IN_CLASS_ACCEPT,
            "per_area": {
                k: {kk: (int(vv) if kk == "fields" else r(vv)) for kk, vv in v.items()}
                for k, v in self.per_area.items()
            },
            "notes": list(self.notes),
        }

    def table(self) -> str:
        """The result as a plain-text table (one row per area, then the total)."""
        w = max([len("area"), *(len(n) for n in self.per_area)])
        lines = [
            f"cross-validation ({self.scheme}, {self.folds} folds, {self.features}):",
            f"  {'area':<{w}}  fields  named right  accepted",
        ]
        for name, v in self.per_area.items():
            lines.append(
                f"  {name:<{w}}  {int(v['fields']):>6}  {v['accuracy']:>11.0%}  {v['accepted']:>8.0%}"
            )
        lines.append(
            f"  {'all':<{w}}  {sum(int(v['fields']) for v in self.per_area.values()):>6}  "
            f"{self.accuracy:>11.0%}  {self.accepted:>8.0%}"
        )
        lines.append(
            f"  named right and accepted: {self.correct_accepted:.0%}; 'other' threshold "
            f"{self.threshold:.2f} keeps {IN_CLASS_ACCEPT:.0%} of held-out fields of taught areas"
        )
        if math.isfinite(self.region_accuracy):
            lines.append(
                f"  held-out regions named right (majority of fields): {self.region_accuracy:.0%}"
            )
        if math.isfinite(self.profile_region_accuracy):
            lines.append(
                "  held-out regions named right by the readout's profile features: "
                f"{self.profile_region_accuracy:.0%}"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class FieldSet:
    """Fields of all regions: features ``X`` ``(N, D)``, area index ``y``, section index
    ``section`` and centre ``centres_um`` ``(N, 2)`` of each."""

    X: np.ndarray
    y: np.ndarray
    section: np.ndarray
    centres_um: np.ndarray
    names: list[str]
    region: np.ndarray | None = None


@dataclass
class TaughtModel:
    """A taught area model: ``names`` (head order), the base bundle (its ``encoder`` and
    ``cortex`` detector are reused), the fitted ``head`` and ``scorer``, the
    cross-validation result ``cv`` and the fields per area and section."""

    names: list[str]
    features: str
    base: Any
    base_path: str
    head: Any
    scorer: Any
    cv: CvResult
    fields: dict[str, list[int]]
    shrinkage: float
    seconds: float = 0.0
    #: mirror/rotation views averaged per field (the taught bundle keeps that count)
    views: int = 1
    #: the base bundle's scale head, carried into the taught bundle (None: the base has
    #: none, or it misreads the taught sections: :func:`carried_scale_head`)
    scale_head: Any = None
    #: per taught section (in the order given): its ``name``, µm per pixel
    #: (``pixel_size_um``) and how its slide was read (``slide``,
    #: :mod:`cytowords.slide_reading`; absent when whoever opened it did not say)
    sections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pixel_size_um(self) -> float:
        return float(self.base.pixel_size_um)

    @property
    def patch_px(self) -> int:
        return int(self.base.patch_px)

    def summary(self) -> dict[str, Any]:
        """What the bundle records about how it was taught (``config.json`` ``extra``)."""
        return {
            "kind": TAUGHT_KIND,
            "names": list(self.names),
            "features": self.features,
            "pixel_size_um": self.pixel_size_um,
            "patch_px": self.patch_px,
            "base_model": self.base_path,
            "fields": {k: list(v) for k, v in self.fields.items()},
            "sections": [dict(d) for d in self.sections],
            "shrinkage": round(self.shrinkage, 4),
            "validation": self.cv.to_dict(),
            "fit_seconds": round(self.seconds, 1),
        }


def _check(sections: Sequence[Any], annotations: Sequence[Annotation]) -> list[str]:
    if not sections:
        raise TeachError("no section given")
    if not annotations:
        raise TeachError("no named region given")
    for a in annotations:
        if not 0 <= a.section < len(sections):
            raise TeachError(f"region {a.name!r}: section {a.section} does not exist")
        check_inside(a, tuple(sections[a.section].shape_um), _image_name(sections[a.section]))
    names = group_names(annotations)
    if len(names) < 2:
        raise TeachError(
            f"only one area is named ({names[0]!r}); teaching needs at least two named areas"
        )
    return names


def _image_name(section: Any) -> str:
    return str(getattr(section, "name", "") or "the section")


def collect_fields(
    base: Any,
    sections: Sequence[Any],
    annotations: Sequence[Annotation],
    names: list[str],
    *,
    on_progress: Progress | None = None,
    cancel: Any = None,
    views: int | None = None,
) -> FieldSet:
    """Read and embed the fields of cortex inside every region (see the module doc), each
    averaged over ``views`` mirror/rotation views (None: the base bundle's default)."""
    from ..regions.roi import patch_grid
    from ..sections import read_fields

    patch_um = base.patch_px * base.pixel_size_um
    grids = [
        patch_grid(
            a.roi,
            patch_um=patch_um,
            stride_um=patch_um * STRIDE_FRACTION,
            section_shape_um=tuple(sections[a.section].shape_um),
            max_patches=MAX_FIELDS_PER_REGION,
        )
        for a in annotations
    ]
    total, done = sum(len(g) for g in grids), 0
    xs, ys, ss, cs, rs = [], [], [], [], []
    for k, (a, centres) in enumerate(zip(annotations, grids)):
        if is_cancelled(cancel):
            raise Cancelled("teach cancelled")
        patches = read_fields(sections[a.section], centres, base.pixel_size_um, base.read_px)
        emb = base.embed(patches, views=views)
        cortex = base.predict(emb, views).cortex
        keep = np.ones(len(centres), bool) if cortex is None else cortex
        xs.append(emb.numpy()[keep].astype(np.float64))
        ys.append(np.full(int(keep.sum()), names.index(a.name)))
        ss.append(np.full(int(keep.sum()), a.section))
        cs.append(centres[keep])
        rs.append(np.full(int(keep.sum()), k))
        done += len(centres)
        if on_progress:
            on_progress(done, total)
    return FieldSet(
        np.concatenate(xs),
        np.concatenate(ys),
        np.concatenate(ss),
        np.concatenate(cs),
        names,
        np.concatenate(rs),
    )


def carried_scale_head(base: Any, fs: FieldSet, sections: Sequence[Any], notes: list[str]):
    """The base bundle's scale head (:mod:`cytowords.model.scale_head`: it reads the same
    frozen embeddings, so the taught model's pixel-size check can use it), or None when
    the base has none or when it reads the taught fields of some section at a median
    ``log s`` outside its band: the taught sections are taken to be at their stated pixel
    size, so a head that finds them mis-scaled does not read this tissue and would stop
    every map of it; ``notes`` then says so."""
    head = getattr(base, "scale_head", None)
    if head is None:
        return None
    for s in np.unique(fs.section):
        med = float(np.median(head.predict(fs.X[fs.section == s])))
        if not head.band[0] <= med <= head.band[1]:
            lo, hi = (math.exp(b) for b in head.band)
            notes.append(
                f"the base model's scale head reads {_image_name(sections[int(s)])} at "
                f"{math.exp(med):.2f} × its stated pixel size (outside {lo:.2f}-{hi:.2f}): "
                "not carried, so this model checks pixel sizes by the fields it names alone"
            )
            return None
    return head


def _shrinkage(X: np.ndarray, y: np.ndarray) -> float:
    """Ledoit–Wolf shrinkage of the within-class covariance, within [0.05, 0.95]."""
    from sklearn.covariance import ledoit_wolf_shrinkage

    xc = np.concatenate([X[y == c] - X[y == c].mean(0) for c in np.unique(y)])
    return float(np.clip(ledoit_wolf_shrinkage(xc), 0.05, 0.95))


def fit_discriminant(X: np.ndarray, y: np.ndarray, n_classes: int, shrinkage: float):
    """``(head, scorer)``: the shared-covariance linear discriminant as an
    :class:`~cytowords.model.head.AreaHead` (linear, logits ``-D²/2`` up to a constant)
    and its Mahalanobis :class:`~cytowords.model.head.OpenSetScorer`. Classes without
    fields get no mean (never predicted: their logit is very negative)."""
    import torch

    from ..model.head import AreaHead, HeadConfig, OpenSetScorer

    d = X.shape[1]
    emb, lab = torch.from_numpy(X).float(), torch.from_numpy(y).long()
    scorer = OpenSetScorer(d, n_classes, "distance_ratio").fit(emb, lab, shrinkage=shrinkage)
    head = AreaHead(HeadConfig(d, n_classes, hidden=0, dropout=0.0, none_class=False))
    with torch.no_grad():
        P, M = scorer.precision, scorer.means
        lin = head.net[-1]
        lin.weight.copy_(M @ P)
        bias = -0.5 * ((M @ P) * M).sum(1)
        lin.bias.copy_(torch.where(scorer.class_used, bias, torch.full_like(bias, -1e9)))
    return head.eval(), scorer.eval()


def _predict(head: Any, scorer: Any, X: np.ndarray) -> tuple[np.ndarray, ...]:
    """Predicted class, open-set score and squared distance to the nearest mean."""
    import torch

    with torch.no_grad():
        e = torch.from_numpy(X).float()
        near = scorer.class_distances(e).min(1).values
        return head(e).argmax(1).numpy(), scorer.score(e).numpy(), near.numpy()


def _folds(fs: FieldSet) -> tuple[np.ndarray, str]:
    """Group of each field for cross-validation and the scheme's name: the section, or
    with one section, the half of its region along the region's long axis."""
    if len(np.unique(fs.section)) >= 2:
        return fs.section.copy(), "leave one section out"
    g = np.zeros(len(fs.y), int)
    for c in np.unique(fs.y):
        idx = np.flatnonzero(fs.y == c)
        pts = fs.centres_um[idx] - fs.centres_um[idx].mean(0)
        axis = np.linalg.svd(pts, full_matrices=False)[2][0] if len(idx) > 1 else np.ones(2)
        t = pts @ axis
        g[idx] = t > np.median(t)
    return g, "one section: each region's halves held out in turn"


def cross_validate(fs: FieldSet, shrinkage: float, features: str) -> CvResult:
    """Held-out naming and the calibrated "other" threshold (see the module doc)."""
    groups, scheme = _folds(fs)
    n = len(fs.names)
    pred = np.full(len(fs.y), -1)
    score = np.full(len(fs.y), np.nan)
    nearest = np.full(len(fs.y), np.nan)
    notes = []
    for g in np.unique(groups):
        tr, te = groups != g, groups == g
        if len(np.unique(fs.y[tr])) < 2:
            notes.append(f"fold {g}: fewer than two areas to train on; skipped")
            continue
        head, scorer = fit_discriminant(fs.X[tr], fs.y[tr], n, shrinkage)
        known = np.isin(fs.y, np.unique(fs.y[tr])) & te
        pred[known], score[known], nearest[known] = _predict(head, scorer, fs.X[known])
    tested = pred >= 0
    if not tested.any():
        raise TeachError(
            "cross-validation impossible: no held-out fields of an area named elsewhere "
            "(name the same areas on at least two sections, or draw larger regions)"
        )
    thr = float(np.quantile(score[tested], IN_CLASS_ACCEPT))
    cap = DISTANCE_CAP_FACTOR * float(np.quantile(nearest[tested], IN_CLASS_ACCEPT))
    right = pred == fs.y
    acc = score <= thr
    per = {}
    for c, name in enumerate(fs.names):
        m = tested & (fs.y == c)
        if not m.any():
            notes.append(f"{name!r}: named on one section only; not validated")
            continue
        per[name] = {
            "fields": int(m.sum()),
            "accuracy": float(right[m].mean()),
            "accepted": float(acc[m].mean()),
        }
    region_acc = float("nan")
    if fs.region is not None:
        votes = [
            np.bincount(pred[(fs.region == k) & tested], minlength=n).argmax()
            == fs.y[fs.region == k][0]
            for k in np.unique(fs.region[tested])
        ]
        region_acc = float(np.mean(votes)) if votes else region_acc
    untested = int((~tested).sum())
    if untested:
        notes.append(f"{untested} field(s) of areas named on one section only were not tested")
    return CvResult(
        features,
        scheme,
        int(len(np.unique(groups))),
        float(right[tested].mean()),
        float(acc[tested].mean()),
        float((right & acc)[tested].mean()),
        thr,
        per,
        notes,
        cap,
        region_acc,
    )


def _check_fields(fs: FieldSet, n_regions: dict[str, int], patch_um: float) -> None:
    for c, name in enumerate(fs.names):
        k = int((fs.y == c).sum())
        if k < MIN_FIELDS:
            raise TeachError(
                f"area {name!r} has {k} field(s) of cortex in its {n_regions[name]} region(s); "
                f"at least {MIN_FIELDS} are needed (a field is {patch_um / 1000:.1f} mm: "
                "draw larger regions over the cortex, or name it on more sections)"
            )


def teach(
    sections: Sequence[Any],
    annotations: Sequence[Annotation],
    *,
    model: str | Path = "default",
    device: str = "cpu",
    on_progress: Progress | None = None,
    cancel: Any = None,
    compare_profiles: bool = False,
    views: int | None = None,
) -> TaughtModel:
    """Teach the areas named in ``annotations`` (regions on ``sections``, by index) on top
    of the encoder of bundle ``model`` (``"default"`` or a folder).

    ``on_progress(done_fields, total_fields)`` while fields are read; ``cancel`` (an
    object with ``is_set()`` or a callable) stops between regions with
    :class:`~cytowords.jobs.Cancelled`. Raises :class:`TeachError` (one line) for one
    named area only, an area with too few fields of cortex, a region outside its section
    or drawn on an image of another size.

    ``views``: mirror/rotation views averaged per field (1, 2, 4, 8; None: the base
    bundle's default); the taught bundle keeps that count, each view costs one encoder
    pass when teaching and mapping.

    ``compare_profiles``: also measure each region with the readout and report how well
    its profile features name held-out regions (``cv.profile_region_accuracy``, beside
    ``cv.region_accuracy`` of the embeddings). The model itself always uses embeddings:
    area maps and descriptions classify fields, which the readout does not measure."""
    import time

    from ..model import get_bundle, resolve_model_path
    from ..model.tta import resolve_views

    t0 = time.perf_counter()
    names = _check(sections, annotations)
    base_path = resolve_model_path(model)
    # the process's shared bundle: used with ``views`` per call, never changed
    base = get_bundle(base_path, device, captioner=False)
    try:
        views = resolve_views(base.thresholds, base.views, views)
    except ValueError as exc:
        raise TeachError(str(exc)) from None
    fs = collect_fields(
        base, sections, annotations, names, on_progress=on_progress, cancel=cancel, views=views
    )
    n_regions = {n: sum(a.name == n for a in annotations) for n in names}
    _check_fields(fs, n_regions, base.patch_px * base.pixel_size_um)
    shrink = _shrinkage(fs.X, fs.y)
    cv = cross_validate(fs, shrink, "embedding")
    if compare_profiles:
        from .profiles import profile_cv

        cv.profile_region_accuracy, n_prof = profile_cv(sections, annotations, names, cancel)
        if math.isfinite(cv.profile_region_accuracy):
            cv.notes.append(
                f"profile features compared on {n_prof} held-out regions; the model uses "
                "embeddings (maps classify fields, the readout measures regions)"
            )
    if is_cancelled(cancel):
        raise Cancelled("teach cancelled")
    scale_head = carried_scale_head(base, fs, sections, cv.notes)
    head, scorer = fit_discriminant(fs.X, fs.y, len(names), shrink)
    scorer.threshold.fill_(cv.threshold)
    scorer.distance_cap.fill_(cv.distance_cap)
    fields = {
        n: [int(((fs.y == c) & (fs.section == s)).sum()) for s in range(len(sections))]
        for c, n in enumerate(names)
    }
    return TaughtModel(
        names,
        "embedding",
        base,
        "default" if str(model) == "default" else str(base_path.resolve()),
        head,
        scorer,
        cv,
        fields,
        shrink,
        time.perf_counter() - t0,
        views,
        scale_head,
        [section_facts(sec) for sec in sections],
    )


def section_facts(section: Any) -> dict[str, Any]:
    """What a taught bundle records of a section it was taught on: its name, µm per pixel
    and how its slide was read (:func:`cytowords.slide_reading.section_slide`, when said)."""
    from ..slide_reading import EXPORT_KEY, section_slide

    facts: dict[str, Any] = {
        "name": _image_name(section),
        "pixel_size_um": float(section.pixel_size_um[0]),
    }
    slide = section_slide(section)
    if slide:
        facts[EXPORT_KEY] = slide
    return facts


def check_replaceable(path: str | Path) -> None:
    """:class:`TeachError` (one line) when ``path`` exists and is not a model bundle folder
    (a folder with ``config.json``): saving a taught model there would replace, and so
    delete, what it holds."""
    p = Path(path).expanduser()
    if p.exists() and not (p.is_dir() and (p / "config.json").is_file()):
        what = "a folder that is not a model bundle" if p.is_dir() else "a file"
        raise TeachError(
            f"{path}: exists and is {what}; saving would replace it, so it is left as it is: "
            "choose a new folder name (or an earlier taught model to replace)"
        )


def save_taught(taught: TaughtModel, path: str | Path) -> Path:
    """Write ``taught`` as a model bundle folder (atomically): the base encoder, cortex
    detector and scale head (when carried: :func:`carried_scale_head`; safetensors,
    hash-checked like the other files), the taught head and scorer, the names as ``area_ids`` and how it was taught
    and validated in ``config.json`` (``extra.taught``, ``metrics.cross_validation``). An
    existing model bundle at ``path`` is replaced; anything else there is refused
    (:func:`check_replaceable`)."""
    from ..atlas import load_atlas
    from ..model import save_bundle

    check_replaceable(path)
    b = taught.base
    return save_bundle(
        path,
        encoder=b.encoder,  # saved from its state dict: the shared bundle stays as it is
        head=taught.head,
        scorer=taught.scorer,
        area_ids=list(taught.names),
        captioner=None,
        rejection_caption="Not one of the taught areas.",
        atlas_version=load_atlas().version,
        metrics={"cross_validation": taught.cv.to_dict()},
        views=taught.views,
        thresholds={taught.views: float(taught.cv.threshold)},
        cortex=b.cortex,
        scale_head=taught.scale_head,
        extra={"taught": taught.summary()},
        # float32: the discriminant's weights and biases (D² of the means, thousands) would
        # lose the differences between areas in float16
        fp16=False,
    )


def is_taught(config: dict[str, Any]) -> bool:
    """True for the ``config.json`` dict of a bundle written by :func:`save_taught`."""
    return ((config.get("extra") or {}).get("taught") or {}).get("kind") == TAUGHT_KIND
