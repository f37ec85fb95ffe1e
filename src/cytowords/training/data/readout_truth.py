"""Readout vectors for training fields without running the readout: truth plus noise.

The readout (:func:`cytowords.measure.measure_roi`) needs the pia and the white matter in
view, so it measures a drawn region, not a training field (a field of 32-64 px at 32-64
µm/px, about 2 mm, rarely holds the whole 1.8-3.8 mm cortex). The captioner is conditioned
on the readout of the *region* around a field; for synthetic training fields that region's
readout is simulated from the generator's truth for the field's brain and area (that brain's
thickness and layer proportions, the area's cortex type and special cells) with the errors
the readout makes against that truth (:class:`ReadoutNoise`, from
``benchmarks/measure_accuracy.py``): those of a fine scan (layer IV also from the grain at
<= 4 µm/px) or of a coarse one (the profile alone), drawn per field. The evaluation
simulates the readout of a test field's region from that region's own truth
(:func:`region_truths`) with the errors measured against it (:data:`REGION_NOISE`). Fields
of user data, and ``__none__`` fields, get the "missing" vector.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import numpy as np

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.measure.vector import READOUT_DIM, make_vector, missing_vector, vector_values

#: the kinds of scan the readout's errors depend on: ``fine`` has a level of
#: :data:`~cytowords.measure.granularity.GRAIN_UM` (4) µm/px or finer, so layer IV is read
#: from the grain of the stain as well; ``coarse`` has none (e.g. BigBrain's 20 µm/px), so
#: the laminar profile alone decides it
SCANS = ("fine", "coarse")


@dataclass(frozen=True)
class ScanErrors:
    """The readout's errors on one kind of scan (:data:`SCANS`), measured with
    ``benchmarks/measure_accuracy.py`` (3 mm squares, profile at 16 µm/px, no cells) on
    development brains 205–212; see :data:`FINE_SCAN` and :data:`COARSE_SCAN` for the
    counts. Thickness and layer I errors are taken against the truth the readout is
    simulated from: for training (:data:`FINE_SCAN`, :data:`COARSE_SCAN`) the area's
    thickness and layer I in that brain (:func:`brain_truth`), so they hold what the
    readout cannot see or correct as well: cuts oblique to the ribbon that it does not
    flag, and the thickness changing over folds and along the area; for the evaluation
    (:data:`FINE_SCAN_REGION`, :data:`COARSE_SCAN_REGION`) the region's own truth
    (:func:`region_truths`), so they hold the readout's errors alone.
    ``thickness_bias`` and ``thickness_rel_sd``: median and robust SD (median absolute
    deviation / 0.6745, robust to a few failed traces) of the log of measured / true
    thickness; ``layer_i_sd_um`` and ``layer_i_bias_um``: robust SD and median of the
    error of layer I's width (µm, measured - true, the same rule); ``oblique``:
    the share of regions flagged oblique (their apparent thickness is up to 15 % larger);
    ``missing``: the share of regions (pia and white matter inside) the readout cannot
    measure; ``layer_i_missing``: the share of the measured regions whose layer I it does
    not read (fewer than 3 traverses), so that their captions state no layer I width.

    Layer IV: the readout shows a layer IV (koniocortex or granular) or leaves it
    undecided, never "agranular" (docs/measure.md). ``iv_undecided``: the share of regions
    with a layer IV (granular and koniocortex) left undecided; ``iv_false_band``: the share
    of regions without one (agranular, proisocortex, allocortex) read with one all the same.
    A dysgranular region, when decided, reads granular."""

    thickness_rel_sd: float
    thickness_bias: float
    layer_i_sd_um: float
    iv_undecided: float
    iv_false_band: float
    oblique: float
    missing: float
    layer_i_bias_um: float = 0.0
    layer_i_missing: float = 0.0


#: a scan of 2 µm/px, layer IV from the profile and the grain at 4 µm/px
#: (``benchmarks/measure_accuracy.py --brains 205 206 207 208 209 210 211 212 --rois 14``):
#: 96 of 112 squares measured; against the truth the claims are scored with, the log of
#: measured / true thickness has median +0.035 (+0.036 from the unrounded widths the
#: benchmark now prints) and robust SD 0.100 (16 of 96 off by more
#: than 15 %; against the apparent thickness in the section plane the median |error| is
#: only 2.0 %: the rest is the cut's obliquity and the folds), layer I's error robust SD
#: 42 µm and median +13 µm (90th percentile of |error| 89 µm: a heavier tail than the
#: normal's; within 60 µm or 30 % of the truth in 79 of 96); granular
#: and koniocortex squares undecided 19 of 79; flagged oblique 2 of 96. Agranular squares
#: shown with a layer IV: 2 of 11 there and 3 of 19 in 5 mm squares
#: (``benchmarks/layer_iv_survey.py --brains 205 ... 212 --agranular-only``; the 3 mm
#: squares miss most thick motor and premotor cortex), pooled: 5 of 30.
FINE_SCAN = ScanErrors(
    thickness_rel_sd=0.100,
    thickness_bias=0.035,
    layer_i_sd_um=42.0,
    layer_i_bias_um=13.0,
    iv_undecided=19 / 79,
    iv_false_band=5 / 30,
    oblique=2 / 96,
    missing=16 / 112,
)
#: the same squares with the sections read as scans whose finest level is 16 µm/px
#: (``--finest-um 16``; no grain: the profile alone decides layer IV): granular undecided
#: 31 of 79; agranular shown with a layer IV 3 of 11, and 10 of 19 in the survey's 5 mm
#: squares (the profile's call: ``--finest-um 16`` reads it as printed by the fine
#: survey), pooled 13 of 30; the profile, and so every other figure, is the same as on the
#: fine scan
COARSE_SCAN = replace(FINE_SCAN, iv_undecided=31 / 79, iv_false_band=13 / 30)
#: the readout's errors on a fine scan against the truth of the region it measures (the
#: referent of the caption claims in the evaluation, :func:`region_truths`), measured on
#: generator version 4 with the readout's current rules (2026-12-07, session 43,
#: ``benchmarks/measure_accuracy.py --brains 205 206 207 208 209 210 211 212 --rois 14``):
#: 110 of 112 3 mm squares measured (2 not: 206 hIP1, whose traverses disagree with no
#: straight group that agrees, and 207 6d1, with no traverse from pia to white matter);
#: against the median over the square's cortex of the area of the thickness
#: perpendicular to the surface and of layer I's width, the log of measured / true
#: thickness has median +0.040 and robust SD 0.066 (18 of 110 off by more than 15 %: the
#: readout reads the width in the section plane, and an oblique cut stretches it), layer
#: I not read on 2 of 110 (fewer than 3 traverses), its error on the other 108 robust SD
#: 31 µm and median +0 µm (within 60 µm or 30 % in 100 of 108); no square flagged oblique
#: (0 of 110: the flag is kept for curved traverses, >= 10 of them, and ribbons wider
#: than 4.5 mm).
#: Layer IV is the area's, as in :data:`FINE_SCAN` (measured on generator version 3; the
#: same rules). Used by the evaluation only: the captioner was trained with
#: :data:`FINE_SCAN` and :data:`COARSE_SCAN` around the area's truth.
FINE_SCAN_REGION = replace(
    FINE_SCAN,
    thickness_rel_sd=0.066,
    thickness_bias=0.040,
    layer_i_sd_um=31.0,
    layer_i_bias_um=0.0,
    oblique=0 / 110,
    missing=2 / 112,
    layer_i_missing=2 / 110,
)
#: :data:`FINE_SCAN_REGION` on a coarse scan (``--finest-um 16``, the same squares): the
#: profile, and so the thickness, layer I, the oblique flag and the unmeasured share, are
#: those of the fine scan; layer IV as in :data:`COARSE_SCAN`
COARSE_SCAN_REGION = replace(
    FINE_SCAN_REGION,
    iv_undecided=COARSE_SCAN.iv_undecided,
    iv_false_band=COARSE_SCAN.iv_false_band,
)
#: the share of fields simulated as read from a fine scan. Not fitted to any score: a
#: statement about the scans users bring, which we have no usage data on. The plugin
#: takes both whole-slide scans of histological sections (<= 1 µm/px, fine) and volumes
#: or downsampled exports such as BigBrain's 20 µm/px (coarse), so both are weighed
#: equally; the evaluation reports the claims per kind of scan beside the mix.
FINE_SCAN_SHARE = 0.5


@dataclass(frozen=True)
class ReadoutNoise:
    """The readout's errors on the scans users bring: per kind of scan (:class:`ScanErrors`
    of ``fine`` and ``coarse`` scans) and the share of fine scans (:data:`FINE_SCAN_SHARE`);
    each simulated field is read from a fine scan with probability ``fine_share``."""

    fine: ScanErrors = FINE_SCAN
    coarse: ScanErrors = COARSE_SCAN
    fine_share: float = FINE_SCAN_SHARE

    def errors(self, scan: str) -> ScanErrors:
        """The errors on a ``scan`` of :data:`SCANS`."""
        if scan not in SCANS:
            raise ValueError(f"unknown kind of scan {scan!r}; expected one of {SCANS}")
        return self.fine if scan == "fine" else self.coarse

    def draw_scan(self, rng: np.random.Generator) -> str:
        """A kind of scan drawn with probability ``fine_share`` for ``fine``."""
        return "fine" if rng.random() < self.fine_share else "coarse"

    def to_dict(self) -> dict:
        return asdict(self)


#: the readout's errors against the truth of the region it measures
#: (:data:`FINE_SCAN_REGION`, :data:`COARSE_SCAN_REGION`): the evaluation simulates the
#: readout of a test field's region from :func:`region_truths` with these
REGION_NOISE = ReadoutNoise(fine=FINE_SCAN_REGION, coarse=COARSE_SCAN_REGION)


@dataclass(frozen=True)
class FieldTruth:
    """What the generator says about a field's region: area, true thickness (mm), layer I
    width (µm), the readout-vocabulary cortex type, layer IV's relative width, the
    special cells the area has (kinds, e.g. ``betz``) and the atlas terms the generator
    renders for its white-matter border (``wm_border``: ``sharp``, ``gradual``) and its
    laminar contrast (``laminar_contrast``: ``sharp``, ``moderate``, ``blurred``;
    :func:`cytowords.synth.truth.vocabulary_term`; None: not known)."""

    area: str
    thickness_mm: float
    layer_i_um: float
    cortex_type: str
    iv_rel_width: float
    special: tuple[str, ...]
    wm_border: str | None = None
    laminar_contrast: str | None = None


def readout_cortex_type(atlas_type: str, iv_fraction: float) -> str:
    """The readout's word (:data:`CORTEX_TYPES`) for an atlas cortex type (``granular
    isocortex``, ``proisocortex``...) and the rendered layer IV share."""
    t = atlas_type.lower()
    if "konio" in t:
        return "koniocortex"
    if t.startswith("agranular") or iv_fraction <= 0:
        return "agranular"
    if "dysgranular" in t or "proiso" in t:
        return "dysgranular"
    return "granular"


@lru_cache(maxsize=4096)
def brain_truth(seed: int, area_id: str) -> FieldTruth:
    """The truth of ``area_id`` in synthetic brain ``seed`` (as the generator renders it)."""
    from cytowords.synth.truth import vocabulary_term

    brain = _brain(seed)
    area = load_atlas().get(area_id)
    frac = np.asarray(brain.layer_fractions(area), dtype=float)
    th_um = float(brain.thickness_um(area))
    return FieldTruth(
        area=area.id,
        thickness_mm=th_um / 1000.0,
        layer_i_um=float(frac[0] * th_um),
        cortex_type=readout_cortex_type(area.cortex_type, float(frac[3])),
        iv_rel_width=float(frac[3]),
        special=tuple(str(s["kind"]) for s in area.profile.special),
        wm_border=vocabulary_term(area, "wm_border", "cortex_white_matter_border"),
        laminar_contrast=vocabulary_term(area, "laminar_contrast", "laminar_contrast"),
    )


#: the grid (µm) on which :func:`region_truths` samples a field's footprint
REGION_STEP_UM = 100.0


def region_truths(
    brains: np.ndarray,
    labels: np.ndarray,
    centres_um: np.ndarray,
    field_um: float,
    *,
    size_mm: tuple[float, float] = (80.0, 60.0),
    include_unseen: bool = True,
    step_um: float = REGION_STEP_UM,
) -> list[FieldTruth | None]:
    """The truth of each field's own region on the virtual section of its brain: what the
    readout measures there, as the generator draws it
    (:func:`cytowords.synth.truth.truth_at`). ``brains``: brain seeds; ``labels``: the
    field's area (``__none__``: None); ``centres_um`` ``(N, 2)`` ``(y, x)`` µm; ``field_um``:
    the side of the field's square footprint (µm); ``size_mm``, ``include_unseen``: the
    section (``section_geometry``).

    Thickness (mm) and layer I width (µm) are the medians, over the footprint's cortex of
    the field's area (points every ``step_um`` µm), of the local thickness perpendicular to
    the surface and of layer I's local width: under Bok's principle thicker at a crown,
    thinner in a fundus, and varying along the area. Cortex type, layer IV and special cells
    are the area's in that brain (:func:`brain_truth`). Where no footprint point falls in
    the area's cortex, the values at the centre."""
    from cytowords.synth import section_geometry, truth_at

    if step_um <= 0 or field_um <= 0:
        raise ValueError(f"field_um and step_um must be > 0, got {field_um} and {step_um}")
    brains = np.asarray(brains)
    labels = np.asarray(labels).astype(str)
    centres = np.asarray(centres_um, dtype=float).reshape(-1, 2)
    if not len(brains) == len(labels) == len(centres):
        raise ValueError(
            f"brains, labels and centres_um differ in length: {len(brains)}, {len(labels)}, "
            f"{len(centres)}"
        )
    k = int(field_um / 2 // step_um)
    off = np.arange(-k, k + 1) * step_um
    grid = np.stack(np.meshgrid(off, off, indexing="ij"), -1).reshape(-1, 2)
    centre_row = int(np.flatnonzero((grid == 0).all(1))[0])
    out: list[FieldTruth | None] = [None] * len(labels)
    rows = np.flatnonzero(labels != NONE_ID)
    for b in np.unique(brains[rows]):
        mine = rows[brains[rows] == b]
        geom = section_geometry(int(b), size_mm=tuple(size_mm), include_unseen=bool(include_unseen))
        pts = (centres[mine][:, None, :] + grid[None]).reshape(-1, 2)
        t = truth_at(geom, pts)
        n = len(grid)
        depth = t["rel_depth"].reshape(-1, n)
        area = t["area"].reshape(-1, n)
        th = t["thickness_um"].reshape(-1, n)
        l1 = t["layer_i_width_um"].reshape(-1, n)
        for j, i in enumerate(mine):
            sel = (depth[j] >= 0) & (depth[j] < 1) & (area[j] == labels[i])
            if not sel.any():
                sel = np.zeros(n, bool)
                sel[centre_row] = True
            out[i] = replace(
                brain_truth(int(b), str(labels[i])),
                thickness_mm=float(np.median(th[j][sel])) / 1000.0,
                layer_i_um=float(np.median(l1[j][sel])),
            )
    return out


@lru_cache(maxsize=64)
def _brain(seed: int):
    from cytowords.synth.brain import Brain

    return Brain(int(seed))


_SYNTH_BRAIN = re.compile(r"synth-(\d+)$")


def field_truths(labels: np.ndarray, brains: np.ndarray) -> list[FieldTruth | None]:
    """Truth per field of a patch set (``labels``: area ids or ``__none__``; ``brains``:
    ``synth-<seed>`` for synthetic brains): None for ``__none__`` fields and user data."""
    out: list[FieldTruth | None] = []
    atlas = load_atlas()
    for lab, b in zip(np.asarray(labels).astype(str), np.asarray(brains).astype(str)):
        m = _SYNTH_BRAIN.match(b)
        if lab == NONE_ID or m is None or lab not in atlas.areas:
            out.append(None)
        else:
            out.append(brain_truth(int(m.group(1)), lab))
    return out


def simulated_vector(
    truth: FieldTruth | None,
    rng: np.random.Generator,
    noise: ReadoutNoise = ReadoutNoise(),
    scan: str | None = None,
) -> np.ndarray:
    """A readout vector as the readout would measure ``truth`` (None: missing) on a
    ``scan`` of :data:`SCANS` (None: drawn, :meth:`ReadoutNoise.draw_scan`)."""
    err = noise.errors(scan if scan is not None else noise.draw_scan(rng))
    if truth is None or rng.random() < err.missing:
        return missing_vector()
    oblique = bool(rng.random() < err.oblique)
    th = truth.thickness_mm * float(np.exp(rng.normal(err.thickness_bias, err.thickness_rel_sd)))
    if oblique:
        th *= 1.0 + rng.uniform(0.03, 0.15)
    l1 = max(0.0, truth.layer_i_um + rng.normal(err.layer_i_bias_um, err.layer_i_sd_um))
    ctype: str | None = truth.cortex_type
    if ctype == "agranular":
        ctype = "granular" if rng.random() < err.iv_false_band else None
    elif rng.random() < err.iv_undecided:
        ctype = None
    elif ctype == "dysgranular":
        ctype = "granular"
    iv = truth.iv_rel_width if ctype is not None else 0.0
    if ctype is not None and iv <= 0:
        iv = float(rng.uniform(0.05, 0.12))
    if err.layer_i_missing > 0 and rng.random() < err.layer_i_missing:
        l1 = float("nan")
    return make_vector(th, layer_i_um=l1, cortex_type=ctype, iv_rel_width=iv, oblique=oblique)


def draw_scans(n: int, seed: int, noise: ReadoutNoise = ReadoutNoise()) -> np.ndarray:
    """The kind of scan (:data:`SCANS`) of ``n`` fields, drawn with
    :meth:`ReadoutNoise.draw_scan`, deterministic in ``seed``."""
    rng = np.random.default_rng([seed, 1])
    return np.array([noise.draw_scan(rng) for _ in range(n)], dtype=object)


def simulated_vectors(
    truths: list[FieldTruth | None],
    seed: int,
    noise: ReadoutNoise = ReadoutNoise(),
    scans: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`simulated_vector` for every field ``(N, READOUT_DIM)``, deterministic in
    ``seed``; ``scans``: each field's kind of scan (default: :func:`draw_scans` of
    ``seed``)."""
    if scans is None:
        scans = draw_scans(len(truths), seed, noise)
    rng = np.random.default_rng(seed)
    out = np.zeros((len(truths), READOUT_DIM), np.float32)
    for i, t in enumerate(truths):
        out[i] = simulated_vector(t, rng, noise, str(scans[i]))
    return out


@dataclass(frozen=True)
class WmBorderErrors:
    """The errors of the readout's white-matter border term
    (:attr:`cytowords.measure.Readout.wm_border`) against the atlas term the generator
    renders (:attr:`FieldTruth.wm_border`): of the measured regions, the share whose
    transition it does not read (``unread``: None) and the share it calls "varies"
    (``varies``: neither term on 2/3 of the traverses); of those it decides, the share
    decided wrong, per true term (``sharp_wrong``: a sharp border read "gradual";
    ``gradual_wrong``: a gradual one read "sharp")."""

    unread: float
    varies: float
    sharp_wrong: float
    gradual_wrong: float

    def to_dict(self) -> dict:
        return asdict(self)


#: the white-matter border term's errors, measured on generator version 4 with the
#: readout's current rules (2026-12-07, session 43, ``benchmarks/measure_accuracy.py
#: --brains 205 206 207 208 209 210 211 212 --rois 14``, 110 of 112 3 mm squares
#: measured): against the atlas term, 9 sharp squares read sharp 6, gradual 2, varies 1;
#: 101 gradual squares read gradual 77, sharp 4, varies 19, not read 1. The term comes
#: from the profile's traverses (16 µm/px), so it is the same on fine and coarse scans.
WM_BORDER_ERRORS = WmBorderErrors(
    unread=1 / 110, varies=20 / 110, sharp_wrong=2 / 8, gradual_wrong=4 / 81
)


def simulated_wm_border(
    truth: FieldTruth | None,
    measured: bool,
    rng: np.random.Generator,
    errors: WmBorderErrors = WM_BORDER_ERRORS,
) -> str | None:
    """The white-matter border term the readout would give a region of ``truth``
    (``measured``: its cortex was measured; else, and for None or an unknown true term,
    None) with the errors ``errors``: None (not read), "varies" or a decided term."""
    if truth is None or not measured or truth.wm_border not in ("sharp", "gradual"):
        return None
    u = rng.random()
    if u < errors.unread:
        return None
    if u < errors.unread + errors.varies:
        return "varies"
    wrong = errors.sharp_wrong if truth.wm_border == "sharp" else errors.gradual_wrong
    if rng.random() < wrong:
        return "gradual" if truth.wm_border == "sharp" else "sharp"
    return truth.wm_border


def simulated_wm_borders(
    truths: list[FieldTruth | None],
    vectors: np.ndarray,
    seed: int,
    errors: WmBorderErrors = WM_BORDER_ERRORS,
) -> np.ndarray:
    """:func:`simulated_wm_border` for every field (an object array of terms and None),
    deterministic in ``seed`` and drawn apart from :func:`simulated_vectors`' draws (the
    vectors are the same with or without it); ``vectors``: the fields' simulated readout
    vectors ``(N, READOUT_DIM)`` (a field whose vector is "missing" gets None)."""
    rng = np.random.default_rng([seed, 2])
    measured = [bool(vector_values(v)["measured"]) for v in np.asarray(vectors)]
    if len(measured) != len(truths):
        raise ValueError(f"{len(measured)} vectors for {len(truths)} truths")
    out = np.empty(len(truths), dtype=object)
    for i, t in enumerate(truths):
        out[i] = simulated_wm_border(t, measured[i], rng, errors)
    return out
