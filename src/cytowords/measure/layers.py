"""Layers and the atlas vocabulary from one laminar profile (pia -> white matter).

The profile is a grey-level-index / optical-density profile resampled to relative depth
(0 = pia, 1 = white-matter border). Every criterion is relative to the profile's own range
(``range = max - min`` over the cortex), so the stain strength and the scanner's contrast
do not matter, only the shape:

- **Layer I** ends where the profile first rises half-way from the pale band under the
  pia to the first dense band below it (layer II): the pale band's level is the profile's
  minimum in the upper 20 % of the depth, read beyond the pia's edge (:data:`PIA_EDGE_UM`:
  there the profile still mixes in the glass or the meninges above it); the dense band is
  the first local maximum below it with a prominence of at least :data:`L1_BAND_MIN` of
  the upper cortex's range (from the pale band to the highest point in the upper
  :data:`L1_BAND_DEPTH` of the depth: the deep layers, darkened more than the pale ones by
  a Merker-like contrast, do not count; where there is none, that highest point). With
  the traverses' own profiles given, the border is read on each and their median taken
  (:func:`layer_i_bottom`): the border's depth varies along the ribbon, and the mean
  profile blurs it; a traverse's border far deeper than the others' (:data:`L1_DEEPER`)
  is left out, a deeper dense band taken for a layer II too faint on that traverse.
- **Inner granular layer IV** is a local maximum between relative depths
  :data:`IV_RANGE` (between the pyramidal layers III and V) whose topographic prominence
  (height above the higher of the two minima around it) is at least
  :data:`IV_GRANULAR` of the range; a prominent (>= :data:`IV_KONIO`) and wide
  (>= :data:`IV_KONIO_WIDTH`) IV is koniocortex. Its top and bottom are the peak's
  half-prominence crossings. A weaker band (:data:`IV_DYSGRANULAR` to
  :data:`IV_GRANULAR`: dysgranular-like) or none (agranular-like) leaves layer IV
  **undecided** (``cortex_type`` None, ``iv_undecided`` says why): an optical-density
  profile follows the share of the section covered by cell bodies, and a layer of small
  granule cells covers no more of it than the pyramids of layer III in many granular
  areas, so a missing band does not show a missing layer IV (docs/measure_accuracy.md). A band
  wider than :data:`IV_MAX_WIDTH` is not IV: in an optical-density profile the large
  pyramids of lower III and V make such a broad dark band; one narrower than
  :data:`IV_MIN_WIDTH` is a single dense row or noise. Where the grain of the stain was
  read (:mod:`.granularity`), it decides instead (:func:`with_grain_iv`); without it, with
  somata measured, layer IV is shown only where they show a granule band too
  (:func:`with_cell_iv`).
- **Laminar contrast** is the coefficient of variation of the profile over 5-95 % depth,
  given as a number only: it follows how much the layers differ in density, not how
  blurred their borders are, which the atlas's terms (sharp, moderate, blurred) describe.
- **Borders of II-VI** where the profile shows them (:func:`layer_borders`), each with a
  confidence (the size of the feature it rests on, relative to the range), abstaining
  (no border) when the feature is weaker than :data:`BORDER_MIN`: II/III where the dense
  band under layer I (II) falls half-way to the paler band below it (upper III); III/IV and
  IV/V at layer IV's half-prominence crossings; V/VI where the profile rises half-way from
  a pale band in the lower half (V) to the denser band beneath it (VI). Cell-body stains
  blur these borders; they are estimates from one mean profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks, peak_widths

from .vector import IV_PRESENT

IV_RANGE = (0.3, 0.72)
#: the profile within this distance (µm) under the pia is not read for layer I's pale
#: band: the pia's edge, blurred by the profile's smoothing and pixels, mixes in the glass
#: or meninges above it (about two 16 µm profile pixels)
PIA_EDGE_UM = 30.0
#: layer I's dense band beneath (layer II) is the first local maximum with at least this
#: prominence (share of the upper cortex's range, see :func:`_layer_i`): the profile's
#: noise and a single dense row make smaller ones
L1_BAND_MIN = 0.10
#: ... at relative depths above this (layer II lies in the upper part of the cortex)
L1_BAND_DEPTH = 0.45
#: a layer I/II border is read down to this share of the cortex's depth whatever dense
#: band layer I rises to (layer I is a sixth of the depth or less in most regions); deeper,
#: the half-way point is most often the one up to a dense band of layer III or V, layer
#: II's band being too faint to count on that profile (a fluorescent Nissl read inverted,
#: its bright somata near-black and the densest layers far darker than layer II), and it
#: is read only under the conditions of :data:`L1_DEEP_MAX` (:func:`_layer_i`)
L1_MAX_DEPTH = 0.25
#: a border between :data:`L1_MAX_DEPTH` and this share of the depth is read only where
#: layer I rises to a band that looks like layer II (:data:`L1_II_WIDTH`) and is
#: cell-sparse all the way down (:data:`L1_PALE`), on most traverses
#: (:data:`L1_DEEP_SHARE`): where
#: layer I is broad in a thin cortex (subgenual area 25, pregenual 24/32, agranular insula,
#: the entorhinal cortex: 0.3-0.5 mm of 1.5-2 mm, up to a third of the depth), with a
#: margin for the border's blur and an oblique cut
L1_DEEP_MAX = 0.40
#: ... the dense band's width at half its prominence (relative depth) within this range:
#: layer II is a thin band (0.05-0.1 of the depth); the dense bands of large pyramids in
#: lower III and V a layer II too faint to count leaves as the first band are broader, and
#: a narrower peak is a single dense row or noise (as for layer IV: :data:`IV_MIN_WIDTH`)
L1_II_WIDTH = (0.035, 0.12)
#: ... the band above the border rises on average at most this share of the way from the
#: pale band's level to the dense band's (a faint layer II and a paler III above a deeper
#: band raise it; a cell-sparse layer I does not)
L1_PALE = 0.10
#: ... and, on traverses' profiles only where at least this share of the traverses that
#: give a border give one that deep: a broad layer I is the region's, and a few deep
#: borders among shallower ones are where layer II's band is too faint on those traverses
L1_DEEP_SHARE = 0.5
#: layer I is read on the traverses' profiles (each, the median taken) when at least this
#: many are given; with fewer, not at all
L1_MIN_TRAVERSES = 3
#: a traverse whose border lies deeper than this many times the traverses' median is left
#: out (the median taken again over the others): where layer II's band is too faint to
#: count on that traverse, a dense band deeper in layer III is taken for it
L1_DEEPER = 1.8
#: a layer border needs a feature of at least this share of the profile's range
BORDER_MIN = 0.06
#: confidence 1 for a feature of this share of the range (linear below)
BORDER_FULL = 0.25
#: confidence factor for layer IV's borders read from a profile (see layer_borders)
PROFILE_IV_TRUST = 0.5
LAYER_ORDER = ("I/II", "II/III", "III/IV", "IV/V", "V/VI")
IV_DYSGRANULAR = 0.04
IV_GRANULAR = 0.10
IV_KONIO = 0.30
IV_KONIO_WIDTH = 0.10
#: a dark band wider than this (relative depth at half prominence) is not layer IV but
#: the large pyramids of lower III and V (motor and premotor cortex)
IV_MAX_WIDTH = 0.22
#: a peak narrower than this is a single dense row or noise, not a layer
IV_MIN_WIDTH = 0.035


@dataclass
class LayerEstimate:
    """Layers read from a mean profile (relative depths; widths in µm when a thickness is
    given). ``iv_prominence`` is relative to the profile range; ``cortex_type`` is
    ``koniocortex`` or ``granular`` when a layer IV is shown, None when layer IV is
    undecided (``iv_undecided`` says why): the readout never calls a region agranular or
    dysgranular, since neither a missing band nor missing small somata showed a missing
    layer IV reliably (docs/measure_accuracy.md)."""

    layer_i_bottom: float
    layer_i_width_um: float
    #: True: an inner granular layer IV is shown; None: undecided (see ``iv_undecided``)
    iv_present: bool | None
    iv_prominence: float
    iv_top: float
    iv_bottom: float
    iv_width_um: float
    #: ``koniocortex`` or ``granular``; None while layer IV is undecided
    cortex_type: str | None
    #: the profile's SD / mean over 5-95 % depth (no atlas term: see docs/measure.md)
    laminar_contrast: float
    #: what layer IV was read from: ``profile`` (the mean profile) or ``profile and
    #: cells`` (somata too, when measured: :func:`iv_from_cells`, :func:`with_cell_iv`)
    iv_evidence: str = "profile"
    #: the band the profile shows: ``koniocortex``, ``granular``, ``dysgranular`` (a faint
    #: band) or ``agranular`` (none), whatever was decided
    profile_cortex_type: str | None = None
    iv_cells: CellLayerIV | None = None
    #: why layer IV is undecided (one line); None when decided
    iv_undecided: str | None = None
    #: the dip of the fine-grain share between layers III and V (:func:`grain_band`):
    #: prominence relative to the grain profile's range and its relative depth; NaN when
    #: the grain was not read (scans coarser than :data:`~.granularity.GRAIN_UM` µm/px)
    grain_prominence: float = float("nan")
    grain_depth: float = float("nan")
    #: how far the grain comes back below that dip (:func:`grain_band`: 1 as fine as
    #: above it, 0 no finer); NaN when not read or without a dip
    grain_recovery: float = float("nan")
    #: the thickness (µm) the widths were computed with
    thickness_um: float = float("nan")
    #: where layer I is not read: the median relative depth of the layer I / II borders
    #: found deeper than a layer I is read (:func:`layer_i_read`); NaN otherwise
    layer_i_too_deep: float = float("nan")
    #: layer borders the profile shows: name ("I/II", "II/III", "III/IV", "IV/V", "V/VI")
    #: -> (relative depth, confidence 0..1); a border it does not show is absent
    borders: dict[str, tuple[float, float]] = field(default_factory=dict)

    def layer_spans(self) -> dict[str, tuple[float, float]]:
        """Relative ``(top, bottom)`` of each layer whose two borders are known (the pia
        and the white-matter border are 0 and 1)."""
        edges = {
            "I": ("pia", "I/II"),
            "II": ("I/II", "II/III"),
            "III": ("II/III", "III/IV"),
            "IV": ("III/IV", "IV/V"),
            "V": ("IV/V", "V/VI"),
            "VI": ("V/VI", "wm"),
        }
        known = {"pia": 0.0, "wm": 1.0, **{k: v[0] for k, v in self.borders.items()}}
        return {
            name: (known[a], known[b])
            for name, (a, b) in edges.items()
            if a in known and b in known and known[b] > known[a]
        }

    def to_dict(self) -> dict:
        skip = ("iv_cells", "borders")
        out = {k: _json(v) for k, v in self.__dict__.items() if k not in skip}
        out["iv_cells"] = self.iv_cells.to_dict() if self.iv_cells is not None else None
        out["borders"] = {
            k: {"depth": round(float(d), 4), "confidence": round(float(c), 2)}
            for k, (d, c) in self.borders.items()
        }
        out["layer_spans"] = {
            k: {
                "top": round(a, 4),
                "bottom": round(b, 4),
                "relative_width": round(b - a, 4),
                "width_um": _json((b - a) * self.thickness_um),
            }
            for k, (a, b) in self.layer_spans().items()
        }
        return out


def _json(v):
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else round(float(v), 4)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def analyse_profile(
    profile: np.ndarray,
    thickness_um: float = float("nan"),
    traverse_profiles: np.ndarray | None = None,
    pia_edge_um: float = PIA_EDGE_UM,
) -> LayerEstimate:
    """Layer I, layer IV, cortex type and laminar contrast of a profile sampled at equally
    spaced relative depths (bin centres, pia first; any length >= 20). ``thickness_um``:
    the thickness the profile spans (µm; widths are NaN without it). ``traverse_profiles``
    ``(k, n)``: the profiles of the traverses ``profile`` is the mean of: layer I's
    border is the median of theirs, none with fewer than :data:`L1_MIN_TRAVERSES`
    (:func:`layer_i_bottom`). ``pia_edge_um``: the depth under the pia (µm) not read for
    layer I's pale band (:data:`PIA_EDGE_UM`)."""
    p = np.asarray(profile, dtype=np.float64)
    n = len(p)
    if n < 20 or not np.all(np.isfinite(p)):
        raise ValueError(f"a profile needs >= 20 finite samples, got {n}")
    depth = (np.arange(n) + 0.5) / n
    ps = gaussian_filter1d(p, max(0.5, n / 100.0), mode="nearest")
    rng = float(ps.max() - ps.min())
    inner = (depth >= 0.05) & (depth <= 0.95)
    mean = float(np.mean(p[inner]))
    contrast = float(np.std(p[inner]) / mean) if mean > 0 else float("nan")
    l1, l1_deep = layer_i_read(p, thickness_um, traverse_profiles, pia_edge_um)
    iv = _layer_iv(ps, depth, rng)
    prom, top, bottom = iv
    if prom >= IV_KONIO and (bottom - top) >= IV_KONIO_WIDTH:
        band = "koniocortex"
    elif prom >= IV_GRANULAR:
        band = "granular"
    elif prom >= IV_DYSGRANULAR:
        band = "dysgranular"
    else:
        band = "agranular"
    present = prom >= IV_GRANULAR
    nan = float("nan")
    return LayerEstimate(
        layer_i_bottom=l1,
        layer_i_width_um=l1 * thickness_um,
        iv_present=True if present else None,
        iv_prominence=prom,
        iv_top=top if present else nan,
        iv_bottom=bottom if present else nan,
        iv_width_um=(bottom - top) * thickness_um if present else nan,
        cortex_type=band if present else None,
        laminar_contrast=contrast,
        profile_cortex_type=band,
        iv_undecided=None if present else _weak_band(prom),
        thickness_um=float(thickness_um),
        layer_i_too_deep=l1_deep,
        borders=layer_borders(
            ps,
            depth,
            rng,
            l1,
            top if prom >= IV_GRANULAR else None,
            bottom if prom >= IV_GRANULAR else None,
            prom,
        ),
    )


def _weak_band(prominence: float) -> str:
    """Why a profile without a clear layer IV band leaves layer IV undecided."""
    what = "only a faint" if prominence >= IV_DYSGRANULAR else "no"
    return (
        f"the profile shows {what} dense band between layers III and V (prominence "
        f"{prominence:.2f} of its range, {IV_GRANULAR:g} needed), and small granule cells "
        "need not make a darker band than the pyramids of layer III"
    )


def _confidence(strength: float) -> float:
    return float(np.clip(strength / BORDER_FULL, 0.0, 1.0))


def _crossing(p: np.ndarray, depth: np.ndarray, i0: int, i1: int, level: float) -> float:
    """Relative depth where ``p`` first crosses ``level`` going from sample ``i0`` to
    ``i1`` (either direction), linearly interpolated; NaN when it does not."""
    step = 1 if i1 >= i0 else -1
    above0 = p[i0] >= level
    for i in range(i0 + step, i1 + step, step):
        if (p[i] >= level) != above0:
            f = (level - p[i - step]) / (p[i] - p[i - step]) if p[i] != p[i - step] else 0.5
            return float(depth[i - step] + f * (depth[i] - depth[i - step]))
    return float("nan")


def layer_borders(
    p: np.ndarray,
    depth: np.ndarray,
    rng: float,
    layer_i_bottom: float,
    iv_top: float | None,
    iv_bottom: float | None,
    iv_prominence: float,
) -> dict[str, tuple[float, float]]:
    """Borders of layers I-VI the smoothed profile ``p`` shows (see module docstring):
    name -> (relative depth, confidence)."""
    out: dict[str, tuple[float, float]] = {}
    if rng <= 0:
        return out
    if np.isfinite(layer_i_bottom):
        i_min = int(np.argmin(np.where(depth < 0.2, p, np.inf)))
        i_peak = int(np.argmax(np.where((depth > depth[i_min]) & (depth < 0.45), p, -np.inf)))
        out["I/II"] = (float(layer_i_bottom), _confidence((p[i_peak] - p[i_min]) / rng))
        # II: the dense band under I, then a paler band (upper III) within the upper 45 %
        after = (depth > depth[i_peak]) & (depth < 0.45)
        if after.any():
            j = int(np.argmin(np.where(after, p, np.inf)))
            drop = (p[i_peak] - p[j]) / rng
            if drop >= BORDER_MIN and depth[i_peak] < 0.3:
                d = _crossing(p, depth, i_peak, j, (p[i_peak] + p[j]) / 2)
                if np.isfinite(d):
                    out["II/III"] = (d, _confidence(drop))
    if iv_top is not None and iv_bottom is not None and np.isfinite(iv_top):
        # a dense band in a grey-level profile is indirect evidence of layer IV (large
        # pyramids darken III and V as well): half the confidence of its prominence
        c = PROFILE_IV_TRUST * _confidence(iv_prominence)
        out["III/IV"] = (float(iv_top), c)
        out["IV/V"] = (float(iv_bottom), c)
    # V/VI: a pale band in the lower half (below IV when there is one), then a rise to VI
    start = iv_bottom if iv_bottom is not None and np.isfinite(iv_bottom) else 0.5
    pale = (depth > start) & (depth < 0.85)
    if pale.any():
        k = int(np.argmin(np.where(pale, p, np.inf)))
        below = (depth > depth[k]) & (depth < 0.97)
        if below.any():
            m = int(np.argmax(np.where(below, p, -np.inf)))
            rise = (p[m] - p[k]) / rng
            if rise >= BORDER_MIN and depth[m] - depth[k] >= 0.05:
                d = _crossing(p, depth, k, m, (p[k] + p[m]) / 2)
                if np.isfinite(d):
                    out["V/VI"] = (d, _confidence(rise))
    return dict(sorted(out.items(), key=lambda kv: LAYER_ORDER.index(kv[0])))


def layer_i_bottom(
    profile: np.ndarray,
    thickness_um: float = float("nan"),
    traverse_profiles: np.ndarray | None = None,
    pia_edge_um: float = PIA_EDGE_UM,
) -> float:
    """Relative depth of the layer I / II border (see module docstring): the median of the
    borders read on each of ``traverse_profiles`` (``(k, n)``, at least
    :data:`L1_MIN_TRAVERSES` rows; those where none is read left out, and those deeper
    than :data:`L1_DEEPER` times the median of all); NaN with fewer rows (one or two
    traverses do not show the region's layer I: its width varies along the ribbon).
    Without ``traverse_profiles``, read on the mean ``profile``; NaN when none is read.
    ``thickness_um`` (µm) converts ``pia_edge_um`` to relative depth (without it the pale
    band is read from the pia). The first of :func:`layer_i_read`."""
    return layer_i_read(profile, thickness_um, traverse_profiles, pia_edge_um)[0]


def layer_i_read(
    profile: np.ndarray,
    thickness_um: float = float("nan"),
    traverse_profiles: np.ndarray | None = None,
    pia_edge_um: float = PIA_EDGE_UM,
) -> tuple[float, float]:
    """``(border, too deep)``: the layer I / II border of :func:`layer_i_bottom` (relative
    depth), and where it is NaN, the median relative depth of the borders found but not
    read on the profiles (:func:`_layer_i_read`: deeper than a layer I is read there; NaN
    when none was found at all, or with fewer than :data:`L1_MIN_TRAVERSES` traverses).
    A traverse's border deeper than :data:`L1_MAX_DEPTH` counts only where at least
    :data:`L1_DEEP_SHARE` of the traverses that give a border give one that deep."""
    nan = float("nan")
    p = np.asarray(profile, dtype=np.float64)
    n = len(p)
    depth = (np.arange(n) + 0.5) / n
    edge = pia_edge_um / thickness_um if np.isfinite(thickness_um) and thickness_um > 0 else 0.0
    sigma = max(0.5, n / 100.0)
    if traverse_profiles is not None and len(traverse_profiles) < L1_MIN_TRAVERSES:
        return nan, nan
    if traverse_profiles is not None:
        tp = np.asarray(traverse_profiles, dtype=np.float64)
        if tp.ndim == 2 and tp.shape[1] == n and np.all(np.isfinite(tp)):
            reads = np.array(
                [
                    _layer_i_read(gaussian_filter1d(q, sigma, mode="nearest"), depth, edge)
                    for q in tp
                ]
            )
            found = np.isfinite(reads[:, 0])
            deep_ok = found & (reads[:, 0] > L1_MAX_DEPTH)
            if deep_ok.sum() < L1_DEEP_SHARE * found.sum():
                # a few traverses' deep borders among shallower ones: not read there
                reads[deep_ok, 1], reads[deep_ok, 0] = reads[deep_ok, 0], nan
            each = reads[:, 0][np.isfinite(reads[:, 0])]
            if each.size:
                return float(np.median(each[each <= L1_DEEPER * np.median(each)])), nan
            deep = reads[:, 1][np.isfinite(reads[:, 1])]
            return nan, float(np.median(deep)) if deep.size else nan
    return _layer_i_read(gaussian_filter1d(p, sigma, mode="nearest"), depth, edge)


def _layer_i(p: np.ndarray, depth: np.ndarray, edge: float = 0.0) -> float:
    """Relative depth of the layer I / II border on one smoothed profile ``p`` (the first
    of :func:`_layer_i_read`); NaN when not read."""
    return _layer_i_read(p, depth, edge)[0]


def _layer_i_read(p: np.ndarray, depth: np.ndarray, edge: float = 0.0) -> tuple[float, float]:
    """``(border, too deep)``: the relative depth of the layer I / II border on one
    smoothed profile ``p``, half-way up from the pale band (the minimum at relative depths
    ``edge`` to 0.2) to the first local maximum below it with a prominence of at least
    :data:`L1_BAND_MIN` of the rise from the pale band to the highest point at relative
    depths below :data:`L1_BAND_DEPTH` (where there is none, that highest point). The
    border is read down to :data:`L1_MAX_DEPTH`, and down to :data:`L1_DEEP_MAX` where that
    maximum is a band as narrow as a layer II (:data:`L1_II_WIDTH`) under a band pale
    all the way down (:data:`L1_PALE`); a border found deeper is not read: ``(NaN, its
    depth)``. ``(NaN, NaN)`` when none is found."""
    nan = float("nan")
    top = (depth < 0.2) & (depth >= edge)
    if not top.any():
        top = depth < 0.2
    i_min = int(np.argmin(np.where(top, p, np.inf)))
    below = (depth > depth[i_min]) & (depth < L1_BAND_DEPTH)
    if not below.any():
        return nan, nan
    # the range of the upper cortex only (from the pale band up): the deep dense layers
    # and a contrast that darkens dense parts more than pale ones (Merker's) must not
    # raise the bar for layer II's band
    rng = float(p[depth < L1_BAND_DEPTH].max() - p[i_min])
    if rng <= 0:
        return nan, nan
    peaks, _ = find_peaks(p, prominence=L1_BAND_MIN * rng)
    peaks = peaks[below[peaks]]
    i_max = int(peaks[0]) if len(peaks) else int(np.argmax(np.where(below, p, -np.inf)))
    half = (p[i_min] + p[i_max]) / 2
    for i in range(i_min, i_max + 1):
        if p[i] >= half:
            if i == 0:
                return float(depth[0]), nan
            # linear interpolation between samples i-1 and i
            f = (half - p[i - 1]) / max(p[i] - p[i - 1], 1e-12)
            d = float(depth[i - 1] + f * (depth[i] - depth[i - 1]))
            if d <= L1_MAX_DEPTH:
                return d, nan
            if d <= L1_DEEP_MAX and len(peaks) and _looks_like_layer_ii(p, depth, i_min, i_max, d):
                return d, nan
            return nan, d
    return nan, nan


def _looks_like_layer_ii(
    p: np.ndarray, depth: np.ndarray, i_min: int, i_max: int, d: float
) -> bool:
    """Whether the rise of ``p`` from its pale band (sample ``i_min``) to the dense band
    at sample ``i_max`` (a local maximum), half-way at relative depth ``d``, looks like the
    one from a broad layer I to layer II: the band's width at half its prominence within
    :data:`L1_II_WIDTH`, and the profile from the pale band down to ``d`` on average no
    more than :data:`L1_PALE` of the way up to the band."""
    width = float(peak_widths(p, [i_max], rel_height=0.5)[0][0]) * float(depth[1] - depth[0])
    rise = float(p[i_max] - p[i_min])
    above = (depth >= depth[i_min]) & (depth <= d)
    pale = float(np.mean(p[above]) - p[i_min]) <= L1_PALE * rise
    return L1_II_WIDTH[0] <= width <= L1_II_WIDTH[1] and pale


def _layer_iv(p: np.ndarray, depth: np.ndarray, rng: float) -> tuple[float, float, float]:
    """``(relative prominence, top, bottom)`` of the strongest layer IV candidate."""
    if rng <= 0:
        return 0.0, float("nan"), float("nan")
    peaks, props = find_peaks(p, prominence=0)
    ok = (depth[peaks] >= IV_RANGE[0]) & (depth[peaks] <= IV_RANGE[1])
    if not ok.any():
        return 0.0, float("nan"), float("nan")
    peaks, prom = peaks[ok], props["prominences"][ok]
    _, _, left, right = peak_widths(p, peaks, rel_height=0.5)
    step = depth[1] - depth[0]
    width = (right - left) * step
    narrow = (width <= IV_MAX_WIDTH) & (width >= IV_MIN_WIDTH)
    if not narrow.any():
        return 0.0, float("nan"), float("nan")
    j = int(np.argmax(np.where(narrow, prom, -1)))
    top = float(depth[0] + left[j] * step)
    bottom = float(depth[0] + right[j] * step)
    return float(prom[j] / rng), top, bottom


#: a dip of the fine-grain share (:mod:`.granularity`) at relative depths IV_RANGE whose
#: prominence is at least this share of the grain profile's range (10-95 % depth) shows
#: a layer IV (see :func:`with_grain_iv`)
IV_GRAIN = 0.5
#: the grain profile's range is taken over these relative depths (layer I's sparse glia
#: and the white matter's would set it otherwise)
GRAIN_RANGE = (0.1, 0.95)
#: a layer IV is a band of finer grain directly beneath the coarse band of lower III: within
#: this relative depth below the dip (about a layer IV with its borders) the share must
#: come back ...
IV_GRAIN_BELOW = 0.15
#: ... at least this part of the way from the dip to the finest grain above it (half-way,
#: as layer I's border); in agranular cortex the large pyramids of V follow those of III
#: and the grain stays coarse (see :func:`with_grain_iv`)
IV_GRAIN_RECOVERY = 0.5


def grain_band(grain: np.ndarray) -> tuple[float, float, float]:
    """``(prominence, depth, recovery)`` of the deepest dip of a mean fine-grain share
    profile (:func:`~.granularity.grain_profiles`, equally spaced relative depths, pia
    first, any length >= 20) centred at relative depths :data:`IV_RANGE`: its topographic
    prominence over the profile's range at :data:`GRAIN_RANGE` depths, its relative depth,
    and how far the share comes back within :data:`IV_GRAIN_BELOW` below it, as a part of
    the way from the dip to the highest share between :data:`GRAIN_RANGE` [0] and the dip
    (1: as fine as above, 0: no finer; NaN without a dip; prominence 0 without one)."""
    g = np.asarray(grain, dtype=np.float64)
    n = len(g)
    if n < 20 or not np.all(np.isfinite(g)):
        raise ValueError(f"a grain profile needs >= 20 finite samples, got {n}")
    depth = (np.arange(n) + 0.5) / n
    gs = gaussian_filter1d(g, max(0.5, 1.5 * n / 100.0), mode="nearest")
    inner = (depth >= GRAIN_RANGE[0]) & (depth <= GRAIN_RANGE[1])
    rng = float(gs[inner].max() - gs[inner].min())
    nan = float("nan")
    if rng <= 0:
        return 0.0, nan, nan
    dips, props = find_peaks(-gs, prominence=0)
    ok = (depth[dips] >= IV_RANGE[0]) & (depth[dips] <= IV_RANGE[1])
    if not ok.any():
        return 0.0, nan, nan
    j = int(np.argmax(props["prominences"][ok]))
    i = int(dips[ok][j])
    above = gs[(depth >= GRAIN_RANGE[0]) & (depth < depth[i])].max() - gs[i]
    below = (depth > depth[i]) & (depth <= depth[i] + IV_GRAIN_BELOW)
    rec = (gs[below].max() - gs[i]) / above if above > 0 and below.any() else nan
    return float(props["prominences"][ok][j] / rng), float(depth[i]), float(rec)


def with_grain_iv(est: LayerEstimate, grain: np.ndarray) -> LayerEstimate:
    """``est`` with layer IV decided from the mean fine-grain share profile ``grain``
    (:mod:`.granularity`) instead of the optical-density band: shown (``iv_evidence``
    ``profile and grain``) when the grain shows a band of finer grain between coarser
    layers III and V (:func:`grain_band`): a dip of at least :data:`IV_GRAIN` of its range
    (the large pyramids of lower III) from which the share comes back at least
    :data:`IV_GRAIN_RECOVERY` of the way within :data:`IV_GRAIN_BELOW` relative depth (the
    small granule cells of IV directly beneath); else undecided, whatever the
    optical-density band shows. In agranular cortex the large pyramids of V follow those
    of lower III with no band of small cells between them, and the grain stays coarse
    below the dip. The band's class (koniocortex or granular) and the III/IV and IV/V
    borders stay the profile's when it shows a band; without one (the granule cells of IV
    cover no more of the section than the pyramids of III) layer IV is shown as granular
    without borders. Figures per class in docs/measure_accuracy.md (*Layer IV: shown, or
    undecided*)."""
    prom, at, rec = grain_band(grain)
    est.grain_prominence = prom
    est.grain_depth = at
    est.grain_recovery = rec
    est.iv_evidence = "profile and grain"
    band = est.profile_cortex_type in IV_PRESENT
    nan = float("nan")
    if prom >= IV_GRAIN and rec >= IV_GRAIN_RECOVERY:
        est.iv_present = True
        est.cortex_type = est.profile_cortex_type if band else "granular"
        est.iv_undecided = None
        if not band:
            est.iv_top = est.iv_bottom = est.iv_width_um = nan
        return est
    if prom >= IV_GRAIN:
        grain_says = (
            f"the grain of the stain shows a band of large somata between layers III and V "
            f"(dip {prom:.2f} of its range) and no band of finer ones beneath it (within "
            f"{IV_GRAIN_BELOW:g} of the depth it comes back {rec:.2f} of the way, "
            f"{IV_GRAIN_RECOVERY:g} needed): in agranular cortex the large pyramids of V "
            "follow those of lower III"
        )
    else:
        grain_says = (
            f"the grain of the stain shows no clear band of large somata above finer ones "
            f"between layers III and V (dip {prom:.2f} of its range, {IV_GRAIN:g} needed)"
        )
    if band:
        why = (
            f"the profile shows a dense band between layers III and V (prominence "
            f"{est.iv_prominence:.2f} of its range), but {grain_says}"
        )
        if prom < IV_GRAIN:  # else the grain's words already say what agranular cortex shows
            why += (
                "; the large pyramids of lower III and V make such a band in agranular cortex too"
            )
    else:
        why = (
            f"{grain_says}, and the profile no clear dense band either (prominence "
            f"{est.iv_prominence:.2f} of its range); neither showed a missing layer IV "
            "reliably on the development brains"
        )
    est.iv_present = None
    est.cortex_type = None
    est.iv_undecided = why
    est.iv_top = est.iv_bottom = est.iv_width_um = nan
    est.borders.pop("III/IV", None)
    est.borders.pop("IV/V", None)
    return est


#: depth window (relative) over which the soma size and count profiles are taken, and its step
CELL_WINDOW = 0.05
CELL_STEP = 0.01
#: fewest somata in a depth window for its median size to count (and three times as many
#: above and below it for the reference)
CELL_MIN_PER_WINDOW = 12
#: the somata above and below a candidate window are taken from these depths on / to
CELL_REFERENCE = (0.2, 0.9)
#: a granule band's median soma size is at most this share of the somata's above and below
IV_SMALL_SHARE = 0.85
#: a band of somata no smaller than those around it is granular only with a real count
#: excess: this many standard deviations (Poisson) above the count expected from the
#: somata above and below (koniocortex: small cells throughout II-IV, IV the densest)
IV_COUNT_Z = 3.0


@dataclass
class CellLayerIV:
    """Layer IV read from somata (relative depths). ``verdict``: ``granular`` (a band of
    small somata at least as numerous as expected, or of somata no larger with a real count
    excess), ``dysgranular`` (small somata, but sparser), ``agranular`` (no such band
    between layers III and V) or ``None`` (too few somata to say). ``size_ratio``: the
    band's median soma size over the smaller of the median sizes above and below it (< 1:
    smaller); ``density_ratio``: its soma count over the count expected at the mean
    density (somata per unit depth) above and below it; ``count_z``: that excess in
    standard deviations."""

    verdict: str | None
    top: float = float("nan")
    bottom: float = float("nan")
    size_ratio: float = float("nan")
    density_ratio: float = float("nan")
    n_somata: int = 0
    count_z: float = float("nan")

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in self.__dict__.items()}


def iv_from_cells(depth: np.ndarray, size_um: np.ndarray) -> CellLayerIV:
    """Layer IV from detected somata: their relative depths (0 pia .. 1 white matter) and
    sizes (µm). Only shape counts (sizes relative to the ROI's own somata, counts relative
    to other depths), so stain, section thickness and shrinkage cancel:

    each window of :data:`CELL_WINDOW` depth centred in :data:`IV_RANGE` (steps of
    :data:`CELL_STEP`) is compared with *all* somata above it (from
    :data:`CELL_REFERENCE` [0]) and all below it (to :data:`CELL_REFERENCE` [1]), one
    window away: its median soma size against the smaller of theirs, its soma count against
    the count their mean density (somata per unit depth) predicts. Granule cells are small
    and densely packed: smaller somata (<= :data:`IV_SMALL_SHARE`) at least as numerous as
    predicted, or somata no larger with a count :data:`IV_COUNT_Z` standard deviations
    (Poisson) above the prediction, are granular (the band: the window with the largest
    count ratio over size ratio, and the neighbouring windows that qualify too); smaller
    but sparser somata are dysgranular; neither is agranular. Comparing with all somata
    above and below, not with the largest-soma windows, keeps sampling noise from passing
    as a granule band."""
    depth = np.asarray(depth, dtype=np.float64)
    size = np.asarray(size_um, dtype=np.float64)
    ok = np.isfinite(depth) & np.isfinite(size) & (depth >= 0) & (depth <= 1)
    depth, size = depth[ok], size[ok]
    n = int(len(depth))
    w = CELL_WINDOW
    top_ref, bottom_ref = CELL_REFERENCE
    centres = np.arange(IV_RANGE[0], IV_RANGE[1] + 1e-9, CELL_STEP)
    rs = np.full(len(centres), np.nan)
    rd = np.full(len(centres), np.nan)
    z = np.full(len(centres), np.nan)
    for i, c in enumerate(centres):
        sel = np.abs(depth - c) <= w / 2
        up = (depth >= top_ref) & (depth < c - w)
        lo = (depth > c + w) & (depth <= bottom_ref)
        least = 3 * CELL_MIN_PER_WINDOW
        if sel.sum() < CELL_MIN_PER_WINDOW or up.sum() < least or lo.sum() < least:
            continue
        rs[i] = np.median(size[sel]) / min(np.median(size[up]), np.median(size[lo]))
        expected = 0.5 * (up.sum() / (c - w - top_ref) + lo.sum() / (bottom_ref - c - w)) * w
        rd[i] = sel.sum() / expected
        z[i] = (sel.sum() - expected) / np.sqrt(expected)
    if np.isfinite(rs).sum() < 3:
        return CellLayerIV(None, n_somata=n)
    with np.errstate(invalid="ignore"):
        small = rs <= IV_SMALL_SHARE
        granular = (small & (z >= 0)) | ((rs <= 1.0) & (z >= IV_COUNT_Z))
    if granular.any():
        j = int(np.nanargmax(np.where(granular, rd / rs, np.nan)))
        verdict, band = "granular", granular
    elif small.any():
        j = int(np.nanargmin(np.where(small, rs, np.nan)))
        verdict, band = "dysgranular", small
    else:
        j = int(np.nanargmin(rs))
        return CellLayerIV(
            "agranular",
            size_ratio=float(rs[j]),
            density_ratio=float(rd[j]),
            n_somata=n,
            count_z=float(z[j]),
        )
    # the band: the contiguous windows around the best one that qualify too
    a = b = j
    while a - 1 >= 0 and band[a - 1]:
        a -= 1
    while b + 1 < len(centres) and band[b + 1]:
        b += 1
    return CellLayerIV(
        verdict,
        float(centres[a] - w / 2),
        float(centres[b] + w / 2),
        float(rs[j]),
        float(rd[j]),
        n,
        float(z[j]),
    )


def with_cell_iv(est: LayerEstimate, civ: CellLayerIV) -> LayerEstimate:
    """``est`` with the somata's verdict ``civ`` joined to the profile's (``civ.verdict``
    None: the profile's call stands). Layer IV is shown only when both show it: a dense
    band in the profile (granular or koniocortex) and a band of small, densely packed
    somata (``granular``); its borders are then the somata's (direct evidence: the mean
    optical density only follows how much of the section the cell bodies cover). When the
    two disagree, or neither shows a band, layer IV is undecided (``iv_undecided`` says
    why): on the development brains neither the somata's granule band alone nor a missing
    band in both was a reliable call (docs/measure_accuracy.md). When the grain decided layer IV
    (:func:`with_grain_iv`), the somata do not: where layer IV is shown and they show a
    granule band, its borders are theirs (``iv_evidence`` ``profile and grain and
    cells``)."""
    est.iv_cells = civ
    if civ.verdict is None:
        return est
    if est.iv_evidence == "profile and grain":
        # the grain decided (with_grain_iv); the somata's granule band, where they show
        # one with it, gives the borders (on held-out brains their verdict alone was at
        # chance: docs/measure_accuracy.md)
        if est.iv_present and civ.verdict == "granular" and np.isfinite(civ.top):
            est.iv_evidence = "profile and grain and cells"
            _cell_borders(est, civ)
        return est
    est.iv_evidence = "profile and cells"
    band = est.profile_cortex_type in IV_PRESENT
    cells = civ.verdict == "granular"
    est.borders.pop("III/IV", None)
    est.borders.pop("IV/V", None)
    if band and cells and np.isfinite(civ.top):
        est.cortex_type = est.profile_cortex_type
        est.iv_present = True
        est.iv_undecided = None
        _cell_borders(est, civ)
        return est
    somata = (
        f"size ratio {civ.size_ratio:.2f}, count ratio {civ.density_ratio:.2f} to the "
        "somata above and below"
    )
    if band:
        why = (
            "the profile shows a dense band between layers III and V, but the somata show "
            f"no band of small, densely packed cells there ({somata})"
        )
    elif cells:
        why = (
            "the somata show a band of small, densely packed cells between layers III and V "
            f"({somata}), but the profile shows no clear dense band there (prominence "
            f"{est.iv_prominence:.2f} of its range)"
        )
    else:
        why = (
            f"neither the profile (prominence {est.iv_prominence:.2f} of its range) nor the "
            "somata show a layer IV band, and that did not show a missing layer IV "
            "reliably on the development brains"
        )
    est.cortex_type = None
    est.iv_present = None
    est.iv_undecided = why
    est.iv_top = est.iv_bottom = est.iv_width_um = float("nan")
    return est


def _cell_borders(est: LayerEstimate, civ: CellLayerIV) -> None:
    """Layer IV's top, bottom, width and III/IV, IV/V borders from the somata's granule
    band ``civ`` (in place)."""
    est.iv_top, est.iv_bottom = civ.top, civ.bottom
    est.iv_width_um = (civ.bottom - civ.top) * est.thickness_um
    # confidence from how much smaller or denser the band's somata are
    c = _confidence(max(1 - civ.size_ratio, civ.density_ratio - 1))
    est.borders["III/IV"] = (civ.top, c)
    est.borders["IV/V"] = (civ.bottom, c)
    est.borders = dict(sorted(est.borders.items(), key=lambda kv: LAYER_ORDER.index(kv[0])))
