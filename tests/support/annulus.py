"""Hand-made ring-shaped cortex for the equivolume tests (independent of cytowords.synth).

Two slides at 20 µm/px (:data:`SIZE` µm square, the round part centred at :data:`C`), each
one area, the same laminar profile set on the volume fraction of each column (Bok's
equivolume principle):

* ``"crown"``: a disk of white matter (radius :data:`R_CROWN` - :data:`T`) ringed by
  cortex :data:`T` µm thick under glass (a gyrus cut across: pial radius :data:`R_CROWN`,
  each column narrows with depth, bend ``k = T / R_CROWN``);
* ``"fundus"``: a sulcus open to the top of the slide, its fundus a half circle (pial
  radius :data:`R_FUNDUS` around :data:`C`, below it) between straight banks: glass in the
  sulcus, cortex around it and then :data:`WM_RING` µm of white matter under glass (in the
  fundus each column widens with depth, ``k = -T / R_FUNDUS``; a sulcus closed all round
  by white matter would be filled as a hole of it, and a slide of mostly white matter
  shows too little glass for the slide's reference levels).

The profile: a pale layer I and one dense band half-way down the column's volume; at
equidistant relative depths the band lies at 0.40 of the depth on the crown and 0.58 in
the fundus, at equivolumetric depths at 0.5 in both. Pixel noise makes
each profile differ.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.sections import Section

PX = 20.0
T = 2000.0
R_CROWN, R_FUNDUS = 3500.0, 2000.0
WM_RING = 2000.0
SIZE = 14000.0
C = (SIZE / 2, SIZE / 2)
#: the dense band's place in the column's volume (0 pia .. 1 white matter)
BAND = 0.5


def band_depth(k: float, alpha: float = BAND) -> float:
    """Relative depth (0 pia .. 1 white matter) of volume fraction ``alpha`` in a column
    of bend ``k`` (width falling linearly from 1 at the pia to ``1 - k``)."""
    if abs(k) < 1e-9:
        return alpha
    return float((1 - np.sqrt(1 - 2 * k * alpha * (1 - k / 2))) / k)


def ring_image(kind: str, seed: int = 0) -> np.ndarray:
    """The slide (``"crown"`` or ``"fundus"``) as uint8 (bright glass)."""
    yy, xx = (np.mgrid[0 : int(SIZE / PX), 0 : int(SIZE / PX)] + 0.5) * PX
    r = np.hypot(yy - C[0], xx - C[1])
    if kind == "crown":
        x, k = (R_CROWN - r) / T, T / R_CROWN
    elif kind == "fundus":
        r = np.where(yy > C[0], r, np.abs(xx - C[1]))
        x, k = (r - R_FUNDUS) / T, np.where(yy > C[0], -T / R_FUNDUS, 0.0)
    else:
        raise ValueError(f"kind {kind!r}: expected 'crown' or 'fundus'")
    xc = np.clip(x, 0, 1)
    alpha = (xc - 0.5 * k * xc**2) / (1 - 0.5 * k)
    layer_i = 0.35 / (1 + np.exp(-(alpha - 0.08) / 0.02))
    od = 0.35 + layer_i + 0.4 * np.exp(-(((alpha - BAND) / 0.07) ** 2))
    od = np.where(x > 1, 0.25, od)
    glass = x < 0
    if kind == "fundus":
        glass |= r > R_FUNDUS + T + WM_RING
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    img = 240.0 * np.exp(-od) + rng.normal(0, 2, od.shape)
    return np.clip(img, 1, 255).astype(np.uint8)


def ring_section(kind: str, seed: int = 0) -> Section:
    """:func:`ring_image` as a one-level section."""
    return Section([da.from_array(ring_image(kind, seed))], [PX], name=f"ring-{kind}")


def ring_path(kind: str) -> np.ndarray:
    """A path ``(N, 2)`` (y, x) µm on the pia of the round part: 300° around the crown,
    or the fundus's half circle."""
    r = R_CROWN if kind == "crown" else R_FUNDUS
    a = np.deg2rad(np.linspace(0.0, 300.0 if kind == "crown" else 180.0, 400))
    return np.stack([C[0] + r * np.sin(a), C[1] + r * np.cos(a)], 1)
