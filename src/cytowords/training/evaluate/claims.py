"""Do the captions say something about *this* tissue, and is it true?

Four numbers on captioned in-scope test fields, against the generator's truth. A shown
statement ("the cortex here is about 2.7 mm thick") is about the region the user drew, so
for fields of a section (the headline) its referent is the truth of the field's own region
(:func:`cytowords.training.data.readout_truth.region_truths`: the local thickness and
layer I width over the field's cortex; ``referent`` ``region``); the same captions are
also scored against the truth of the field's area in that brain
(:func:`cytowords.training.data.readout_truth.brain_truth`; ``referent`` ``area``, the
only one for sampler fields, which have no section around them):

- **claim accuracy**: share of the numeric and categorical statements in the captions that
  agree with the truth (:func:`claim_checks`): a cortical thickness in mm (within
  :data:`THICKNESS_TOL` of the true thickness), a layer I width in mm (within
  :data:`LAYER_I_TOL_UM` µm or 30 %), a layer IV present/absent claim (judged on granular,
  koniocortical and agranular truth; dysgranular truth is ambiguous and not judged), a thin
  or thick cortex (thin is wrong from 2.9 mm, thick below 2.3 mm), Betz or Meynert cells
  (wrong where the area has none; the bundle shows them only where cell statistics support
  them, :meth:`cytowords.measure.Readout.special_support`, and test fields at the model's
  pixel size have none, so the captions scored, as shown to the user, state none), a
  sharp or gradual white-matter border (against the area's atlas term); the laminar
  contrast words, which nothing checks and which the shown captions leave out
  (:func:`cytowords.measure.caption_claims.without_laminar_contrast`), are reported beside it, in
  the shown captions (``unverified_claims``, :func:`unverified_checks`) and in the
  captions as generated (``unverified_claims_generated``, against the same truth), not
  in it;
- **verbatim share**: share of captions that are a mined training caption word for word;
- **distinct captions per area**: mean over areas of the number of different captions;
- **specificity**: over pairs of same-area fields whose true thicknesses differ by at least
  20 %, the share whose captions' thickness statements order them as the truth does (a
  pair where either caption states no thickness counts as not ordered); the pairs not
  ordered are reported by why (``specificity_misses``, :func:`specificity_misses`: no
  thickness because the readout measured none, no thickness although it did, a tie at
  0.1 mm, the wrong order).

Each field gets the readout vector the readout would measure in the field's region, as
``cytowords describe`` measures the user's ROI: simulated from the truth with the readout's
errors measured against that truth (:func:`~cytowords.training.data.readout_truth.simulated_vectors`;
the region's truth with :data:`~cytowords.training.data.readout_truth.REGION_NOISE` for
fields of a section, the area's with the training noise otherwise; a test field alone
holds no pia-to-white-matter traverse to measure), and beside it the readout's
white-matter border term (:func:`field_wm_borders`: not in the vector), each field read
from a fine
scan (layer IV also from the grain) or a coarse one (the profile alone) as
:class:`~cytowords.training.data.readout_truth.ReadoutNoise` draws them; the four numbers
are also reported per kind of scan (``by_scan``). A readout-conditioned
bundle reads it, and every bundle leaves out of the caption what it contradicts
(:func:`cytowords.model.caption_input.without_unsupported`), so the captions scored are
those the user is shown: with every thickness and layer I number the readout measured
written as its measured value (:func:`cytowords.model.caption_input.shown_caption`, the
one function the bundle turns a generated caption into the shown one with).
``claim_accuracy_vs_readout`` scores the same claims against the
values of that vector.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import combinations

import numpy as np

from cytowords.atlas import NONE_ID
from cytowords.measure.caption_claims import (
    LAYER_I_WORDS,
    MM_NUMBER,
    THICKNESS_WORDS,
    caption_iv_claim,
    caption_special_claims,
    caption_wm_border_claim,
    laminar_contrast_claims,
    term_contradicted,
    thickness_claim,
)
from cytowords.measure.vector import READOUT_DIM, vector_values

from ..data.readout_truth import (
    SCANS,
    FieldTruth,
    ReadoutNoise,
    brain_truth,
    draw_scans,
    simulated_vectors,
    simulated_wm_borders,
)

#: what a caption's statements are scored against: ``region``, the truth of the field's
#: own region (:func:`~cytowords.training.data.readout_truth.region_truths`: the cortex
#: here), or ``area``, the truth of its area in that brain
#: (:func:`~cytowords.training.data.readout_truth.brain_truth`)
REFERENTS = ("region", "area")
THICKNESS_TOL = 0.15
LAYER_I_TOL_UM = 60.0
SPECIFICITY_RATIO = 1.2
_SENTENCES = re.compile(r"(?<=[.;:])\s+")
# the numbers a caption states and what they are about: the rule by which the shown
# caption's numbers are written from the readout (cytowords.measure.caption_claims.stated_quantity)
_MM = MM_NUMBER
_THICKNESS_WORDS = THICKNESS_WORDS
_LAYER_I = LAYER_I_WORDS


def caption_parts(caption: str) -> list[str]:
    """Sentences and ``;`` clauses of a caption."""
    return [s for s in _SENTENCES.split(caption or "") if s.strip()]


def thickness_mm_stated(caption: str) -> float | None:
    """The first cortical thickness (mm) a caption states as a number, else None."""
    for part in caption_parts(caption):
        if _THICKNESS_WORDS.search(part) and not _LAYER_I.search(part):
            m = _MM.search(part)
            if m:
                return float(m.group(1))
    return None


def unverified_checks(caption: str, truth: dict) -> list[tuple[str, bool]]:
    """``(kind, agrees)`` for the statements of ``caption`` that the readout cannot check,
    against ``truth`` (``laminar_contrast``: the atlas term of the area; None: not
    judged). Kinds: laminar_contrast
    (:func:`cytowords.measure.caption_claims.laminar_contrast_claims`). Reported beside the claim
    accuracy, not in it: for the captions as generated (the shown ones leave them out)."""
    want = truth.get("laminar_contrast")
    if want is None:
        return []
    return [
        ("laminar_contrast", term == want)
        for part in caption_parts(caption)
        for term in laminar_contrast_claims(part)
    ]


def claim_checks(caption: str, truth: dict) -> list[tuple[str, bool]]:
    """``(kind, agrees)`` for every statement of ``caption`` that can be checked against
    ``truth`` (``thickness_mm``, ``layer_i_um``, ``iv_present`` (None: not judged),
    ``special`` kinds (None: not judged), ``wm_border`` (the atlas term, ``sharp`` or
    ``gradual``; None: not judged)). Kinds: thickness, layer_i, layer_iv,
    thickness_term, special, wm_border (a sharp or gradual white-matter border,
    :func:`cytowords.measure.caption_claims.caption_wm_border_claim`)."""
    out: list[tuple[str, bool]] = []
    th = truth.get("thickness_mm")
    for part in caption_parts(caption):
        m = _MM.search(part)
        if m and _LAYER_I.search(part) and truth.get("layer_i_um") is not None:
            got = float(m.group(1)) * 1000.0
            want = float(truth["layer_i_um"])
            out.append(("layer_i", abs(got - want) <= max(LAYER_I_TOL_UM, 0.3 * want)))
        elif m and _THICKNESS_WORDS.search(part) and th is not None:
            out.append(("thickness", abs(float(m.group(1)) - th) <= THICKNESS_TOL * th))
        term = thickness_claim(part)
        if term is not None and th is not None:
            out.append(("thickness_term", not term_contradicted(term, th)))
        iv = caption_iv_claim(part)
        if iv is not None and truth.get("iv_present") is not None:
            out.append(("layer_iv", iv == truth["iv_present"]))
        special = truth.get("special")
        if special is not None:
            out.extend(("special", kind in special) for kind in caption_special_claims(part))
        wm = caption_wm_border_claim(part)
        if wm is not None and truth.get("wm_border") is not None:
            out.append(("wm_border", wm == truth["wm_border"]))
    return out


def truth_claims(t: FieldTruth) -> dict:
    """The checkable truth of a field (see :func:`claim_checks`)."""
    judged = t.cortex_type != "dysgranular"
    return {
        "thickness_mm": t.thickness_mm,
        "layer_i_um": t.layer_i_um,
        "iv_present": (t.iv_rel_width > 0) if judged else None,
        "special": t.special,
        "wm_border": t.wm_border,
        "laminar_contrast": t.laminar_contrast,
    }


def readout_claims(vector: np.ndarray) -> dict:
    """The checkable values of a readout vector (see :func:`claim_checks`)."""
    v = vector_values(vector)
    if not v["measured"]:
        return {}
    ctype = v["cortex_type"]
    return {
        "thickness_mm": v["thickness_mm"],
        "layer_i_um": None if v["layer_i_mm"] is None else v["layer_i_mm"] * 1000.0,
        "iv_present": None if ctype in (None, "dysgranular") else ctype != "agranular",
        "special": None,
    }


def _specificity_pairs(
    areas: Sequence[str], thickness_mm: Sequence[float]
) -> list[tuple[int, int]]:
    """Same-area pairs ``(i, j)`` whose true thicknesses differ by at least
    :data:`SPECIFICITY_RATIO`."""
    by_area: dict[str, list[int]] = {}
    for i, a in enumerate(areas):
        by_area.setdefault(a, []).append(i)
    out = []
    for idx in by_area.values():
        for i, j in combinations(idx, 2):
            ti, tj = thickness_mm[i], thickness_mm[j]
            if max(ti, tj) >= SPECIFICITY_RATIO * min(ti, tj):
                out.append((i, j))
    return out


def specificity(
    captions: Sequence[str], areas: Sequence[str], thickness_mm: Sequence[float]
) -> tuple[float, int]:
    """``(share, pairs)``: same-area pairs whose true thicknesses differ by at least
    :data:`SPECIFICITY_RATIO` and whose captions order them as the truth does."""
    stated = [thickness_mm_stated(c) for c in captions]
    pairs = _specificity_pairs(areas, thickness_mm)
    hits = 0
    for i, j in pairs:
        si, sj = stated[i], stated[j]
        hits += (
            si is not None
            and sj is not None
            and (si - sj) * (thickness_mm[i] - thickness_mm[j]) > 0
        )
    return (hits / len(pairs) if pairs else float("nan")), len(pairs)


#: why a pair :func:`specificity` counts is not ordered (:func:`specificity_misses`)
SPECIFICITY_MISSES = ("not_measured", "no_thickness", "tie", "wrong_order")


def specificity_misses(
    captions: Sequence[str],
    areas: Sequence[str],
    thickness_mm: Sequence[float],
    vectors: np.ndarray | None = None,
) -> dict[str, int]:
    """The pairs :func:`specificity` counts as not ordered, by why
    (:data:`SPECIFICITY_MISSES`): ``not_measured``, a caption states no thickness and
    the readout its field was captioned with (``vectors``) measured none; ``no_thickness``,
    a caption states none although its readout measured one (or no ``vectors``); ``tie``,
    both state the same number (0.1 mm); ``wrong_order``, they state the opposite order."""
    stated = [thickness_mm_stated(c) for c in captions]
    measured = [
        vectors is None or bool(vector_values(v)["measured"])
        for v in (vectors if vectors is not None else [None] * len(captions))
    ]
    out = dict.fromkeys(SPECIFICITY_MISSES, 0)
    for i, j in _specificity_pairs(areas, thickness_mm):
        si, sj = stated[i], stated[j]
        unstated = [k for k, s in ((i, si), (j, sj)) if s is None]
        if unstated:
            out["no_thickness" if any(measured[k] for k in unstated) else "not_measured"] += 1
        elif si == sj:
            out["tie"] += 1
        elif (si - sj) * (thickness_mm[i] - thickness_mm[j]) < 0:
            out["wrong_order"] += 1
    return out


def caption_scores(
    captions: Sequence[str],
    areas: Sequence[str],
    truths: Sequence[FieldTruth],
    training: set[str],
    vectors: np.ndarray | None = None,
    generated: Sequence[str] | None = None,
) -> dict:
    """The four caption numbers (module docstring) for captions of fields of ``areas`` with
    ``truths``; ``training``: the mined training captions; ``vectors``: the readout vectors
    the captioner read (adds ``claim_accuracy_vs_readout``); ``generated``: the same
    captions as generated, before what nothing measured backs was left out (adds
    ``unverified_claims_generated``)."""
    checks = [c for cap, t in zip(captions, truths) for c in claim_checks(cap, truth_claims(t))]
    kinds: dict[str, list[bool]] = {}
    for kind, ok in checks:
        kinds.setdefault(kind, []).append(ok)
    distinct: dict[str, set[str]] = {}
    for cap, a in zip(captions, areas):
        distinct.setdefault(a, set()).add(cap)
    spec, pairs = specificity(captions, areas, [t.thickness_mm for t in truths])
    out = {
        "n_captions": len(captions),
        "n_claims": len(checks),
        "claim_accuracy": _share([ok for _, ok in checks]),
        "claim_accuracy_by_kind": {k: _share(v) for k, v in sorted(kinds.items())},
        "claim_counts_by_kind": {k: [int(sum(v)), len(v)] for k, v in sorted(kinds.items())},
        "unverified_claims": _unverified(captions, truths),
        "claims_per_caption": len(checks) / max(1, len(captions)),
        "verbatim_training_share": _share([c in training for c in captions]),
        "distinct_captions_per_area": (
            float(np.mean([len(s) for s in distinct.values()])) if distinct else float("nan")
        ),
        "specificity": spec,
        "specificity_pairs": pairs,
        "specificity_misses": specificity_misses(
            captions, areas, [t.thickness_mm for t in truths], vectors
        ),
    }
    if generated is not None:
        out["unverified_claims_generated"] = _unverified(generated, truths)
    if vectors is not None:
        rc = [c for cap, v in zip(captions, vectors) for c in claim_checks(cap, readout_claims(v))]
        out["claim_accuracy_vs_readout"] = _share([ok for _, ok in rc])
    return out


def claim_intervals(
    captions: Sequence[str],
    areas: Sequence[str],
    truths: Sequence[FieldTruth],
    brains: Sequence[object],
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Bootstrap intervals over brains (:func:`.bootstrap.bootstrap_ci`: whole brains
    resampled, the statistic recomputed on their pooled fields) of the claim accuracy and
    the specificity of :func:`caption_scores` (the same point values): fields of one brain
    share its individuality and its simulated readout errors, so they are not independent.
    Returns ``claim_accuracy_ci`` and ``specificity_ci``, each ``[lo, hi]`` (nan where no
    resample has a claim, resp. a pair)."""
    from .bootstrap import bootstrap_ci

    brains = np.asarray([_brain_key(b) for b in brains])
    if len(brains) != len(captions) or len(truths) != len(captions):
        raise ValueError(f"{len(captions)} captions, {len(truths)} truths, {len(brains)} brains")
    if not len(captions):
        nan = [float("nan")] * 2
        return {"claim_accuracy_ci": nan, "specificity_ci": list(nan)}
    ok = [
        np.array([f for _, f in claim_checks(c, truth_claims(t))], bool)
        for c, t in zip(captions, truths)
    ]
    stated = np.array(
        [np.nan if (s := thickness_mm_stated(c)) is None else s for c in captions], np.float64
    )
    thick = np.array([t.thickness_mm for t in truths], np.float64)
    codes = np.unique(np.asarray(areas, dtype=str), return_inverse=True)[1]
    per_brain = [np.flatnonzero(brains == b) for b in np.unique(brains)]

    def stat(parts: list[np.ndarray]) -> np.ndarray:
        idx = np.concatenate(parts)
        flags = np.concatenate([ok[i] for i in idx])
        t, s, a = thick[idx], stated[idx], codes[idx]
        upper = np.triu(np.ones((len(idx), len(idx)), bool), 1)
        pairs = upper & (a[:, None] == a[None, :])
        pairs &= np.maximum(t[:, None], t[None, :]) >= SPECIFICITY_RATIO * np.minimum(
            t[:, None], t[None, :]
        )
        with np.errstate(invalid="ignore"):
            hit = pairs & ((s[:, None] - s[None, :]) * (t[:, None] - t[None, :]) > 0)
        return np.array(
            [
                flags.mean() if flags.size else np.nan,
                hit.sum() / pairs.sum() if pairs.any() else np.nan,
            ]
        )

    _, lo, hi = bootstrap_ci(per_brain, stat, n=n, seed=seed, level=level)
    return {
        "claim_accuracy_ci": [float(lo[0]), float(hi[0])],
        "specificity_ci": [float(lo[1]), float(hi[1])],
    }


def _unverified(captions: Sequence[str], truths: Sequence[FieldTruth]) -> dict:
    """Per kind of :func:`unverified_checks`: ``n`` statements, ``true`` of them and the
    share true."""
    kinds: dict[str, list[bool]] = {}
    for cap, t in zip(captions, truths):
        for kind, ok in unverified_checks(cap, truth_claims(t)):
            kinds.setdefault(kind, []).append(ok)
    return {
        k: {"n": len(v), "true": int(sum(v)), "share_true": _share(v)}
        for k, v in sorted(kinds.items())
    }


def _share(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else float("nan")


def field_readouts(
    bundle,
    labels: np.ndarray,
    brains: np.ndarray,
    seed: int = 0,
    truths: Sequence[FieldTruth | None] | None = None,
    noise: ReadoutNoise = ReadoutNoise(),
) -> tuple[list[FieldTruth | None], np.ndarray | None, np.ndarray | None]:
    """The generator's truth per field (``labels``: area ids or ``__none__``; ``brains``:
    synthetic brain seeds; None for ``__none__``) and, for a bundle with a captioner, each
    field's readout vector simulated from that truth with the errors ``noise``, as the
    user's ROI would be measured, and the kind of scan
    (:data:`~cytowords.training.data.readout_truth.SCANS`) it was simulated for (both None
    for a bundle without one). ``truths``: each field's truth (default: the area's in that
    brain, :func:`~cytowords.training.data.readout_truth.brain_truth`, read with the errors
    measured against it; for fields of a section, the region's own truth,
    :func:`~cytowords.training.data.readout_truth.region_truths`, read with
    :data:`~cytowords.training.data.readout_truth.REGION_NOISE`)."""
    if truths is None:
        truths = [
            None if str(a) == NONE_ID else brain_truth(int(b), str(a))
            for a, b in zip(labels, brains)
        ]
    truths = list(truths)
    if len(truths) != len(labels):
        raise ValueError(f"{len(truths)} truths for {len(labels)} fields")
    if bundle.captioner is None:
        return truths, None, None
    # each brain its own draw: two ranges that caption the same areas in the same order
    # must not share their readout errors field for field
    scans = np.empty(len(truths), dtype=object)
    vectors = np.zeros((len(truths), READOUT_DIM), np.float32)
    keys = np.array([_brain_key(b) for b in brains], dtype=np.int64)
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        brain_seed = int(np.random.SeedSequence([seed + 29, int(key)]).generate_state(1)[0])
        scans[rows] = draw_scans(len(rows), brain_seed)
        vectors[rows] = simulated_vectors(
            [truths[i] for i in rows], brain_seed, noise, scans=scans[rows]
        )
    return truths, vectors, scans


def field_wm_borders(
    truths: Sequence[FieldTruth | None],
    vectors: np.ndarray,
    brains: np.ndarray,
    seed: int = 0,
) -> np.ndarray:
    """Each field's white-matter border term as the readout would give it
    (:func:`~cytowords.training.data.readout_truth.simulated_wm_borders`: from the true
    atlas term with the errors measured against it; None where its simulated readout
    ``vectors`` measured nothing), drawn per brain as :func:`field_readouts` draws the
    vectors, from a stream of its own (the vectors do not change with it). Passed beside
    the vectors to :meth:`~cytowords.model.ModelBundle.caption`, which leaves out a
    caption's border claim that the term contradicts."""
    out = np.empty(len(truths), dtype=object)
    keys = np.array([_brain_key(b) for b in brains], dtype=np.int64)
    if len(keys) != len(truths):
        raise ValueError(f"{len(truths)} truths for {len(keys)} brains")
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        brain_seed = int(np.random.SeedSequence([seed + 29, int(key)]).generate_state(1)[0])
        out[rows] = simulated_wm_borders(
            [truths[i] for i in rows], np.asarray(vectors)[rows], brain_seed
        )
    return out


def _brain_key(brain: object) -> int:
    """A field's brain seed + 1 for seeding; 0 for a field without one (None, negative)."""
    try:
        return max(int(brain), -1) + 1  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def caption_readouts(
    bundle,
    labels: np.ndarray,
    brains: np.ndarray,
    idx: np.ndarray,
    seed: int = 0,
    truths: Sequence[FieldTruth | None] | None = None,
    noise: ReadoutNoise = ReadoutNoise(),
) -> tuple[list[FieldTruth | None], np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """:func:`field_readouts` of the fields ``idx`` of a set of ``len(labels)`` fields
    (truths, vectors, kinds of scan; ``truths``, ``noise``: of the fields ``idx``, as
    there), and the readout array ``(N, READOUT_DIM)`` to caption the set with
    (:func:`~cytowords.training.evaluate.scoring.run_model`): the simulated vectors in the
    rows ``idx``, "missing" elsewhere; returned as ``(truths, vectors, rows, scans)``, the
    last three None for bundles without a captioner."""
    idx = np.asarray(idx, dtype=int)
    truths, vectors, scans = field_readouts(
        bundle, np.asarray(labels)[idx], np.asarray(brains)[idx], seed, truths, noise
    )
    if vectors is None:
        return truths, None, None, None
    rows = np.zeros((len(labels), vectors.shape[1]), np.float32)
    rows[idx] = vectors
    return truths, vectors, rows, scans


def claim_report(
    captions: Sequence[str],
    labels: Sequence[str],
    truths: Sequence[FieldTruth],
    training: dict[str, list[str]],
    vectors: np.ndarray | None = None,
    scans: np.ndarray | None = None,
    referent: str = "area",
    brains: Sequence[object] | None = None,
    generated: Sequence[str] | None = None,
) -> dict:
    """:func:`caption_scores` of captions of in-scope fields against ``truths``, plus what
    they are scored against (``referent``, one of :data:`REFERENTS`), what the captioner
    read (``readout``), the scores per kind of scan each field's readout was simulated for
    (``by_scan``: ``fine``, ``coarse``; with ``scans``; specificity over pairs within one
    kind), with ``brains`` (each field's brain) the 95 % intervals over brains of the claim
    accuracy and the specificity (:func:`claim_intervals`), with ``generated`` (the
    captions as generated) the unverified statements they had
    (``unverified_claims_generated``), and up to eight example captions."""
    if referent not in REFERENTS:
        raise ValueError(f"unknown referent {referent!r}; expected one of {REFERENTS}")
    known = {c for cs in training.values() for c in cs}
    areas = [str(a) for a in labels]
    out = {
        "referent": referent,
        **caption_scores(captions, areas, truths, known, vectors, generated),
    }
    if brains is not None:
        out.update(claim_intervals(captions, areas, truths, brains))
    out["readout"] = "simulated from truth" if vectors is not None else "none"
    if scans is not None:
        scans = np.asarray(scans).astype(str)
        out["scan_share"] = {k: float(np.mean(scans == k)) if len(scans) else 0.0 for k in SCANS}
        out["by_scan"] = {}
        for kind in SCANS:
            i = np.flatnonzero(scans == kind)
            if len(i):
                out["by_scan"][kind] = caption_scores(
                    [captions[j] for j in i],
                    [areas[j] for j in i],
                    [truths[j] for j in i],
                    known,
                    None if vectors is None else np.asarray(vectors)[i],
                )
    out["examples"] = [
        {"area": str(a), "true_thickness_mm": round(t.thickness_mm, 2), "caption": c}
        for a, t, c in list(zip(labels, truths, captions))[:: max(1, len(captions) // 8)][:8]
    ]
    return out


def evaluate_claims(
    bundle,
    labels: np.ndarray,
    brains: np.ndarray,
    emb,
    pred: Sequence[str],
    training: dict[str, list[str]],
    *,
    seed: int = 0,
    batch_size: int = 64,
    max_new_tokens: int = 96,
) -> dict:
    """Caption the fields (``labels``: true in-scope area ids; ``brains``: synthetic brain
    seeds; ``emb``: their embeddings) anchored on the predicted areas ``pred``, as
    ``cytowords describe`` does (with each field's simulated readout,
    :func:`field_readouts`: read by a readout-conditioned bundle, and what it contradicts
    left out by every bundle), and score them (:func:`claim_report`). Empty for bundles
    without a captioner."""
    import torch

    if bundle.captioner is None or len(labels) == 0:
        return {}
    truths, vectors, scans = field_readouts(bundle, labels, brains, seed)
    wm = None if vectors is None else field_wm_borders(truths, vectors, brains, seed)
    caps: list[str] = []
    generated: list[str] = []
    e = torch.as_tensor(np.asarray(emb, dtype=np.float32))
    for i in range(0, len(labels), batch_size):
        sl = slice(i, i + batch_size)
        r = None if vectors is None else vectors[sl]
        w = None if wm is None else list(wm[sl])
        caps += bundle.caption(
            e[sl], max_new_tokens, areas=list(pred[sl]), readout=r, wm_border=w, generated=generated
        )
    return claim_report(
        caps, labels, truths, training, vectors, scans, brains=brains, generated=generated
    )
