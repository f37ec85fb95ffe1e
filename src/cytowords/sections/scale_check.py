"""Is a section's stated pixel size plausible? A check by reading tissue at several scales.

Everything the model says depends on the physical scale: it reads fields of a fixed size
in µm, and laminar thickness is one of the features that tell areas apart. A scan whose
pixel size is mis-stated (a file written after down-sampling, a wrong objective in the
metadata) is misread on most fields (docs/results.md, robustness: ×1.5 costs a third of
the accuracy). This check samples fields on the tissue, reads them as if the pixel size
were ``factor ×`` the stated one for factors from 0.5 to 2, and counts how many read as a
known area (accepted by the open-set scorer). A model with a dense evaluation reads them
as dense area maps of a few scattered tissue windows
(:func:`cytowords.mapping.compute_area_map`), other models (TorchScript encoders) as
single fields. Cortex reads as a known area most often
near its true scale, so a stated size far from that peak is flagged, with the size at the
peak as a suggestion. The peak is broad (for the bundled model about ×0.67 to ×1.5), so
smaller errors are not detected by it; on sections with little known cortex the check says
it is inconclusive.

A bundle with a scale head (:mod:`cytowords.model.scale_head`) also estimates the scale
directly: the median of the head's ``log s`` (s: stated / true pixel size) over
:data:`FIELDS` tissue fields read as a known area at the stated size
(:func:`estimate_scale`), with a bootstrap interval; outside the head's band (the range
validation sections at their true size gave) the stated size is suspect too, and the
message says how much larger or smaller the tissue looks. Bundles without one judge by the
acceptance alone.

The same reading answers a second question: does the model know this tissue at all? The
share of tissue fields recognised at the stated size is the section's *familiarity*;
when even at the best scale fewer than :data:`MIN_FAMILIAR` of them read as a known area,
the scan is unlike the sections the model was trained on (another stain, species,
resolution, or simply real tissue for the bundled model trained on synthetic cortex), and
the check says so instead of judging the pixel size. That share depends on the open-set
head rejecting foreign tissue, which a model trained on synthetic cortex need not do; a
bundle with a domain model (:mod:`cytowords.model.domain`: the distance of each field's
embedding to the training fields') also measures the share of tissue fields that look
like its training tissue (within the domain cutoff), and the scan is unfamiliar when at
the best scale fewer than :data:`MIN_DOMAIN` of them do. Figures:
``benchmarks/pixel_size_check.py``, ``benchmarks/familiarity.py``, docs/benchmarks.md,
docs/your_scans.md.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import NoTissueError, Section, read_fields, tissue_mask

#: candidate ratios true / stated pixel size (a geometric grid from 1/2 to 2)
FACTORS = tuple(round(2.0 ** (k / 4.0), 4) for k in range(-4, 5))
#: flagged when the stated size's acceptance is below this share of the best one ...
MAX_RATIO = 0.7
#: ... and at least this many fields (share of all sampled) lower
MIN_GAP = 0.08
#: below this best acceptance the scan is unfamiliar and the pixel size check inconclusive.
#: At their best scale held-out synthetic sections (80 × 60 mm, 96 fields, white matter
#: included) read 23 % (brain 203), 33 % (206) and 96 % (204) of tissue fields as a known
#: area, a real BigBrain section 10 %: 15 % lies between (96 fields give about ±4 %), so a
#: scan the model does not know is no longer called "consistent" while every synthetic one
#: is still judged
MIN_FAMILIAR = 0.15
#: below this best share of tissue fields within the bundle's domain cutoff the scan is
#: unfamiliar too. The cutoff holds 99 % of validation fields (brains 100, 101), so a
#: section like the training ones has nearly all its fields within it; fewer than half
#: means that most of the tissue is unlike anything the model was trained on (set from
#: that meaning, not from the scores of unfamiliar images: benchmarks/familiarity.py)
MIN_DOMAIN = 0.5
#: what the two familiarity measures count, as the messages say it
READ_AS_KNOWN = "read as a known area"
LOOK_TRAINED = "look like the tissue it was trained on"
#: where the user learns what an unfamiliar scan means and what to do
YOUR_SCANS_DOC = "docs/your_scans.md"
#: a check read per field (encoders without a dense evaluation) samples this many fields
FIELDS = 96
#: the dense check reads this many scattered tissue windows per factor ...
DENSE_WINDOWS = 16
#: ... each this many tiles a side at the encoder's feature stride (the default model:
#: 8 × 256 µm = 2 mm of field centres, one 132 px read with the fields' context, against
#: 104 px for one field read alone). 16 such windows cost the default model as much CPU
#: as 96 single fields (``benchmarks/pixel_size_check.py --compare``, docs/benchmarks.md):
#: its dense output projects every 256 µm position, so a scattered sample is not cheaper
#: dense; 32 windows cost twice as much
DENSE_WINDOW_TILES = 8
#: the scale head's estimate (:func:`estimate_scale`) needs at least this many fields read
#: as a known area at the stated size; with fewer it says nothing
MIN_SCALE_FIELDS = 10
#: bootstrap resamples of the fields behind the estimate's 95 % interval
BOOTSTRAP = 200


@dataclass(frozen=True)
class ScaleEstimate:
    """The bundle's scale head (:mod:`cytowords.model.scale_head`) on a section's fields.

    Attributes:
        log_s: predicted ``log s`` (s: stated / true pixel size) of each tissue field read
            as a known area at the stated size.
        band: ``(lo, hi)`` range of the median ``log s`` that validation sections read at
            their true size gave; outside it the stated size is suspect.
        n_fields: tissue fields read (accepted or not).
    """

    log_s: tuple[float, ...]
    band: tuple[float, float]
    n_fields: int

    @property
    def enough(self) -> bool:
        """At least :data:`MIN_SCALE_FIELDS` fields behind the estimate."""
        return len(self.log_s) >= MIN_SCALE_FIELDS

    @property
    def factor(self) -> float:
        """Estimated stated / true pixel size: ``exp`` of the median ``log s`` (NaN
        without fields)."""
        return float(np.exp(np.median(self.log_s))) if self.log_s else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """95 % bootstrap interval of :attr:`factor` (resampling the fields, fixed seed)."""
        if not self.log_s:
            return (float("nan"), float("nan"))
        x = np.asarray(self.log_s)
        rng = np.random.default_rng(0)
        med = np.median(x[rng.integers(0, len(x), (BOOTSTRAP, len(x)))], axis=1)
        lo, hi = np.quantile(med, [0.025, 0.975])
        return float(np.exp(lo)), float(np.exp(hi))

    @property
    def suspect(self) -> bool:
        """Enough fields and the median ``log s`` outside :attr:`band`."""
        if not self.enough:
            return False
        m = float(np.median(self.log_s))
        return not (self.band[0] <= m <= self.band[1])

    @property
    def sentence(self) -> str:
        """What the estimate says, one clause ("" without enough fields)."""
        if not self.enough:
            return ""
        f = self.factor
        lo, hi = self.interval
        how = "larger" if f > 1 else "smaller"
        return (
            f"the tissue looks about {abs(f - 1):.0%} {how} than the stated pixel size says "
            f"(scale head: stated / true {f:.2f}, 95 % interval {lo:.2f}-{hi:.2f}, "
            f"{len(self.log_s)} fields)"
        )

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        lo, hi = self.interval
        return {
            "factor": round(self.factor, 4),
            "interval": [round(lo, 4), round(hi, 4)],
            "band": [round(float(np.exp(b)), 4) for b in self.band],
            "n_used": len(self.log_s),
            "n_fields": self.n_fields,
            "suspect": self.suspect,
        }


def _calibrated_views(bundle: Any, views: int) -> int:
    """``views``, or the fewest the bundle has an open-set threshold for when it has none
    for ``views`` (a taught model is calibrated for its own count only)."""
    table = getattr(bundle, "thresholds", None)
    return min(table) if table and views not in table else views


def estimate_scale(
    section: Section, bundle: Any, n_fields: int = FIELDS, seed: int = 0
) -> ScaleEstimate | None:
    """The bundle's scale head on ``n_fields`` fields centred on random tissue pixels
    (:func:`tissue_points`), read at the stated size with one view: the predicted ``log s``
    of those read as a known area (with one view, or the fewest the model is calibrated
    for); None for bundles without a scale head. Raises NoTissueError without tissue."""
    import torch

    head = getattr(bundle, "scale_head", None)
    if head is None:
        return None
    pts = tissue_points(section, n_fields, seed) * section.shape_um
    patches = read_fields(section, pts, bundle.pixel_size_um, bundle.read_px)
    views = _calibrated_views(bundle, 1)
    with torch.inference_mode():
        emb = bundle.embed(patches, views=1)
        pred = bundle.predict(emb if views == 1 else bundle.embed(patches, views=views), views)
    keep = ~np.asarray(pred.rejected)
    logs = head.predict(emb[torch.from_numpy(keep)]) if keep.any() else np.zeros(0)
    return ScaleEstimate(tuple(float(v) for v in logs), head.band, len(pts))


@dataclass(frozen=True)
class ScaleCheck:
    """Result of :func:`check_pixel_size`.

    Attributes:
        stated_um: the section's stated µm per pixel of level 0.
        factors: candidate ratios (true / stated pixel size) that were tried.
        accepted: share of the sampled tissue fields read as a known area at each factor.
        n_fields: tissue fields sampled (at the stated size).
        evaluation: ``"dense"`` (the fields are the tiles of dense maps of scattered
            tissue windows) or ``"per field"`` (fields centred on random tissue pixels).
        domain: share of the sampled tissue fields within the bundle's domain cutoff at
            each factor (:mod:`cytowords.model.domain`); None for bundles without a domain
            model.
        scale: the scale head's estimate at the stated size (:func:`estimate_scale`); None
            for bundles without a scale head.
    """

    stated_um: float
    factors: tuple[float, ...]
    accepted: tuple[float, ...]
    n_fields: int
    evaluation: str = "per field"
    domain: tuple[float, ...] | None = None
    scale: ScaleEstimate | None = None

    def at(self, factor: float) -> float:
        """Acceptance at the factor of :attr:`factors` nearest to ``factor``."""
        i = int(np.argmin([abs(math.log(f / factor)) for f in self.factors]))
        return self.accepted[i]

    @property
    def best_factor(self) -> float:
        """Geometric centre of the plateau (acceptance within 90 % of the best) around the
        best factor; ties go to the factor nearest 1."""
        a = np.asarray(self.accepted)
        logs = np.log(np.asarray(self.factors))
        best = int(np.lexsort((np.abs(logs), -a))[0])
        lo = hi = best
        while lo > 0 and a[lo - 1] >= 0.9 * a[best]:
            lo -= 1
        while hi < len(a) - 1 and a[hi + 1] >= 0.9 * a[best]:
            hi += 1
        return float(np.exp(logs[lo : hi + 1].mean()))

    @property
    def acceptance_suspect(self) -> bool:
        """The stated size reads as a known area far less often than another one."""
        best, here = max(self.accepted), self.at(1.0)
        return here < MAX_RATIO * best and best - here >= MIN_GAP

    @property
    def scale_suspect(self) -> bool:
        """The scale head's estimate lies outside its band (False without a scale head)."""
        return self.scale is not None and self.scale.suspect

    @property
    def verdict(self) -> str:
        """``"consistent"``, ``"suspect"`` (the stated size reads far worse than another,
        or the scale head's estimate lies outside its band) or ``"inconclusive"`` (the
        scan is unfamiliar: :attr:`familiar`)."""
        if not self.familiar:
            return "inconclusive"
        if self.acceptance_suspect or self.scale_suspect:
            return "suspect"
        return "consistent"

    @property
    def familiarity(self) -> float:
        """Share of the sampled tissue fields read as a known area at the stated size."""
        return self.at(1.0)

    @property
    def domain_familiarity(self) -> float | None:
        """Share of the sampled tissue fields within the domain cutoff at the stated size
        (None without a domain model)."""
        if self.domain is None:
            return None
        i = int(np.argmin([abs(math.log(f)) for f in self.factors]))
        return self.domain[i]

    @property
    def domain_familiar(self) -> bool:
        """False when at every scale fewer than :data:`MIN_DOMAIN` of the tissue fields
        are within the domain cutoff (True without a domain model)."""
        return self.domain is None or max(self.domain) >= MIN_DOMAIN

    @property
    def familiar(self) -> bool:
        """False when hardly any tissue field reads as a known area at any scale (best
        acceptance below :data:`MIN_FAMILIAR`), or most look unlike the training tissue at
        every scale (:attr:`domain_familiar`): the model does not know this tissue."""
        return max(self.accepted) >= MIN_FAMILIAR and self.domain_familiar

    @property
    def familiarity_message(self) -> str:
        """One sentence when the scan is unfamiliar to the model, else ``""``: the share
        read as a known area when that is too low, else the share that looks like the
        training tissue."""
        if self.familiar:
            return ""
        if max(self.accepted) >= MIN_FAMILIAR:
            return unfamiliar_message(float(self.domain_familiarity), LOOK_TRAINED)
        return unfamiliar_message(self.familiarity)

    def to_dict(self) -> dict:
        """JSON-ready: the fields, the verdict, the suggestion (``suggested_um``: only for a
        suspect pixel size, else None: a consistent one needs no other), familiarity and
        messages."""
        return {
            "verdict": self.verdict,
            "familiarity": round(self.familiarity, 4),
            "familiar": self.familiar,
            "domain_familiarity": (
                None if self.domain is None else round(float(self.domain_familiarity), 4)
            ),
            "domain": None if self.domain is None else [round(d, 4) for d in self.domain],
            "familiarity_message": self.familiarity_message,
            "stated_um": self.stated_um,
            "suggested_um": round(self.suggested_um, 4) if self.verdict == "suspect" else None,
            "factors": list(self.factors),
            "accepted": [round(a, 4) for a in self.accepted],
            "n_fields": self.n_fields,
            "evaluation": self.evaluation,
            "message": self.message,
            "abstain_reason": self.abstain_reason,
            "scale": None if self.scale is None else self.scale.to_dict(),
        }

    @property
    def abstain_reason(self) -> str:
        """When the pixel size looks wrong (verdict ``"suspect"``), the one-line reason for
        which every field of the section abstains in ``describe`` and ``map``; else ``""``."""
        if self.verdict != "suspect":
            return ""
        off = self.stated_um / self.suggested_um - 1.0
        why = "reads best" if self.acceptance_suspect else "looks right"
        return (
            f"pixel size looks off by about {abs(off):.0%} (stated {self.stated_um:.4g} µm, "
            f"too {'large' if off > 0 else 'small'}: the tissue {why} at about "
            f"{self.suggested_um:.3g} µm per pixel): fields abstain; set the pixel size"
        )

    @property
    def suggested_um(self) -> float:
        """The pixel size at the acceptance peak (µm per pixel of level 0); when only the
        scale head finds the stated size suspect, the stated size divided by its estimate."""
        if self.scale_suspect and not self.acceptance_suspect:
            return self.stated_um / self.scale.factor
        return self.stated_um * self.best_factor

    @property
    def message(self) -> str:
        """One sentence for the user: the verdict with the figures behind it (and, with a
        scale head, what its estimate says)."""
        text = self._acceptance_message
        if self.verdict != "inconclusive" and self.scale is not None and self.scale.sentence:
            text += "; " + self.scale.sentence
        return text

    @property
    def _acceptance_message(self) -> str:
        """The verdict with the acceptance figures behind it."""
        n, here = self.n_fields, self.at(1.0)
        lo, hi = self.stated_um * min(self.factors), self.stated_um * max(self.factors)
        if self.verdict == "inconclusive":
            best, what = max(self.accepted), READ_AS_KNOWN
            if best >= MIN_FAMILIAR:  # unfamiliar by the domain model alone
                best, what = max(self.domain), LOOK_TRAINED
            return (
                f"pixel size check inconclusive: at most {best:.0%} of {n} tissue fields "
                f"{what} at any pixel size from {lo:.3g} to {hi:.3g} µm, so the pixel size "
                "cannot be judged"
            )
        if self.verdict == "suspect" and not self.acceptance_suspect:
            return (
                f"the pixel size of {self.stated_um:.4g} µm looks wrong: the scale head "
                f"puts it at about {self.suggested_um:.3g} µm per pixel ({here:.0%} of {n} "
                "tissue fields read as a known area at it); check the scan's pixel size"
            )
        if self.verdict == "suspect":
            return (
                f"the pixel size of {self.stated_um:.4g} µm looks wrong: {here:.0%} of {n} "
                f"tissue fields read as a known area at it, {max(self.accepted):.0%} at about "
                f"{self.suggested_um:.3g} µm per pixel; check the scan's pixel size (a wrong "
                "one misreads most fields)"
            )
        return (
            f"the pixel size of {self.stated_um:.4g} µm is consistent with the tissue: "
            f"{here:.0%} of {n} tissue fields read as a known area at it (best "
            f"{max(self.accepted):.0%}, pixel sizes from {lo:.3g} to {hi:.3g} µm tried)"
        )


class PendingCheck:
    """A pixel size check running in another thread: :meth:`finish` is called there with
    its result (None: stopped or failed), and a job that needs the verdict waits for it in
    its own thread (:meth:`wait`), never on the GUI thread."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.result: ScaleCheck | None = None

    @property
    def done(self) -> bool:
        """True once the check ended (with a result or not)."""
        return self._done.is_set()

    def finish(self, result: ScaleCheck | None) -> None:
        """Record the check's result (None: stopped or failed) and wake the waiters."""
        self.result = result
        self._done.set()

    def wait(self, cancel: threading.Event | None = None, poll_s: float = 0.1) -> ScaleCheck | None:
        """Block until the check ended and return its result; None at once when ``cancel``
        is set meanwhile (looked at every ``poll_s`` seconds)."""
        while not self._done.wait(poll_s):
            if cancel is not None and cancel.is_set():
                return None
        return self.result

    def abstain_reason(self, cancel: threading.Event | None = None) -> str:
        """Once the check ended (:meth:`wait`), the reason every field abstains for
        (:attr:`ScaleCheck.abstain_reason`); "" when the pixel size fits, when the check
        ended without a result, or when ``cancel`` was set meanwhile."""
        checked = self.wait(cancel)
        return "" if checked is None else checked.abstain_reason


def unfamiliar_message(share: float, what: str = READ_AS_KNOWN) -> str:
    """The familiarity verdict for a scan where only ``share`` (0-1) of the tissue fields
    ``what`` (:data:`READ_AS_KNOWN` or :data:`LOOK_TRAINED`)."""
    return (
        "this scan looks unlike the sections the model was trained on: only "
        f"{share:.0%} of tissue fields {what}; see {YOUR_SCANS_DOC}: train "
        "on your own sections or plug in a real encoder"
    )


def rescaled(section: Section, factor: float) -> Section:
    """The same pixels with every level's pixel size multiplied by ``factor`` (lazy)."""
    return Section(
        section.levels, pixel_size_um=[s * factor for s in section.pixel_size_um], name=section.name
    )


def tissue_points(section: Section, n: int, seed: int = 0) -> np.ndarray:
    """``(n', 2)`` random points on tissue as fractions of the section's height and width
    (n' = n, or fewer on a small mask); NoTissueError without tissue."""
    tm = tissue_mask(section)
    ys, xs = np.nonzero(tm.mask)
    if not len(ys):
        raise NoTissueError(f"section {section.name!r}: no tissue pixels to check the scale on")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ys), size=min(n, len(ys)), replace=False)
    return (np.stack([ys[pick], xs[pick]], 1) + 0.5) / np.asarray(tm.mask.shape, dtype=float)


def check_pixel_size(
    section: Section,
    model: Any,
    *,
    n_fields: int = FIELDS,
    factors: tuple[float, ...] = FACTORS,
    views: int = 1,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    dense: bool | None = None,
    n_windows: int = DENSE_WINDOWS,
) -> ScaleCheck | None:
    """Read the tissue at ``factor ×`` the stated pixel size for every factor and return
    the share of tissue fields read as a known area per factor (:class:`ScaleCheck`).

    Two ways to read, chosen by the model (``dense``: None chooses; True requires the
    dense path, ValueError without it; False reads per field):

    - dense (an encoder with a dense evaluation, :func:`cytowords.mapping.dense.dense_layout`):
      area maps (:func:`cytowords.mapping.compute_area_map`, no field-quality check) of
      ``n_windows`` scattered tissue windows of :data:`DENSE_WINDOW_TILES` ² tiles at the
      encoder's feature stride, one map per factor; the fields are the windows' tissue
      tiles;
    - per field (encoders without one, e.g. TorchScript): ``n_fields`` fields centred on
      random tissue pixels, the same pixels at every factor.

    ``model``: a loaded :class:`~cytowords.model.ModelBundle`
    (:func:`cytowords.model.get_bundle`; the vision parts suffice) or a
    :class:`~cytowords.describe.Describer`. ``views``: test-time views per field (1 is
    enough for this check, and fastest; a model calibrated for other counts only, such as a
    taught one, reads its fewest). Progress as ``on_progress(done, len(factors))``;
    returns None when ``cancel()`` turned true. Raises NoTissueError without tissue.
    With a scale head in the bundle the result also holds its estimate
    (:func:`estimate_scale` with ``n_fields`` and ``seed``; per field, one view)."""
    from ..mapping.dense import dense_layout

    bundle = getattr(model, "bundle", model)
    views = _calibrated_views(bundle, views)
    layout = dense_layout(bundle.encoder)
    if dense and layout is None:
        raise ValueError(
            "the model's encoder has no dense evaluation (dense_features); check the pixel "
            "size per field (dense=False or leave dense unset)"
        )
    use_dense = layout is not None and dense is not False
    n_points = n_windows if use_dense else n_fields
    points = tissue_points(section, n_points, seed)
    accepted, counts, domain = [], [], []
    for k, f in enumerate(factors):
        if cancel is not None and cancel():
            return None
        s = rescaled(section, f)
        if use_dense:
            stride_um = layout.stride_px * float(bundle.pixel_size_um)
            got = _dense_acceptance(s, bundle, points * s.shape_um, stride_um, views, cancel)
            if got is None:
                return None
            share, n, within = got
        else:
            share, within = _field_acceptance(s, bundle, points * s.shape_um, views)
            n = len(points)
        accepted.append(share)
        counts.append(n)
        domain.append(within)
        if on_progress is not None:
            on_progress(k + 1, len(factors))
    scale = estimate_scale(section, bundle, n_fields, seed)
    return ScaleCheck(
        float(section.pixel_size_um[0]),
        tuple(factors),
        tuple(accepted),
        counts[int(np.argmin([abs(math.log(f)) for f in factors]))],
        "dense" if use_dense else "per field",
        None if getattr(bundle, "domain", None) is None else tuple(domain),
        scale,
    )


def _field_acceptance(
    section: Section, bundle: Any, centres_um: np.ndarray, views: int
) -> tuple[float, float]:
    """Shares of the fields centred on ``centres_um`` (``(N, 2)`` µm) read as a known
    area and within the bundle's domain cutoff (NaN without a domain model)."""
    import torch

    patches = read_fields(section, centres_um, bundle.pixel_size_um, bundle.read_px)
    with torch.inference_mode():
        pred = bundle.predict(bundle.embed(patches, views=views), views)
    return float((~pred.rejected).mean()), _within_share(bundle, pred.domain)


def _within_share(bundle: Any, distance: np.ndarray | None) -> float:
    """Share of the fields whose domain ``distance`` is within the bundle's cutoff (0
    without fields, NaN without a domain model)."""
    domain = getattr(bundle, "domain", None)
    if domain is None or distance is None:
        return float("nan")
    return float((np.asarray(distance) <= domain.cutoff).mean()) if len(distance) else 0.0


def _dense_acceptance(
    section: Section,
    bundle: Any,
    centres_um: np.ndarray,
    stride_um: float,
    views: int,
    cancel: Callable[[], bool] | None,
) -> tuple[float, int, float] | None:
    """``(share read as a known area, number, share within the domain cutoff)`` of the
    tissue tiles of the check's windows (:func:`check_windows_map`); shares 0 when none
    is over tissue; None when cancelled."""
    amap = check_windows_map(section, bundle, centres_um, stride_um, views, cancel)
    if amap is None:
        return None
    tissue = amap.labels > 0
    n = int(tissue.sum())
    dist = np.zeros(0) if amap.domain is None else amap.domain[tissue]
    accepted = float((tissue & ~amap.rejected).sum() / n) if n else 0.0
    return accepted, n, _within_share(bundle, dist)


def check_windows_map(
    section: Section,
    bundle: Any,
    centres_um: np.ndarray,
    stride_um: float,
    views: int = 1,
    cancel: Callable[[], bool] | None = None,
) -> Any:
    """The dense area map (:class:`~cytowords.mapping.AreaMap`, no field-quality check)
    of the blocks (:data:`DENSE_WINDOW_TILES` tiles of ``stride_um`` µm a side) holding the
    points ``centres_um`` (``(N, 2)`` µm): what the check reads at one factor; None when
    cancelled."""
    from ..jobs import Cancelled
    from ..mapping import compute_area_map
    from .quality import CoarseSectionWarning

    try:
        with warnings.catch_warnings():  # the stated size is warned about, not the tried ones
            warnings.simplefilter("ignore", CoarseSectionWarning)
            amap = compute_area_map(
                section,
                bundle,
                stride_um=stride_um,
                block_tiles=DENSE_WINDOW_TILES,
                views=views,
                dense=True,
                quality=None,
                blocks_at_um=centres_um,
                cancel=cancel,
            )
    except Cancelled:
        return None
    return amap
