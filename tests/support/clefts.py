"""Hand-made slides of a narrow sulcal cleft and of a radial tear (independent of
cytowords.synth), for the ribbon and readout tests.

Rendered at :data:`FINE` µm/px (glass 240, optical density per pixel with multiplicative
noise) and given as a two-level pyramid (:data:`FINE` and :data:`COARSE` µm/px, the
coarse level the block mean of the fine one, as a scanner's pyramid), the cortex
:data:`T` µm thick with a pale layer I (about :data:`LAYER_I` ``T`` wide), a dense layer
II and one dense band on white matter:

* :func:`cleft_section`: two banks of cortex facing each other across a vertical cleft
  ``gap_um`` wide (0: the two pial surfaces touch) at ``x = XC``, each with white matter
  beneath and glass beyond it; glass above the tissue (the sulcus opens there);
* :func:`tear_section`: a flat cortex under glass (pia at ``y = PIA_Y``) with a glass tear
  ``width_um`` wide running straight down from the pia ``depth_um`` deep at ``x = XC``.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from cytowords.sections import Section

FINE, COARSE = 4.0, 16.0
T = 2000.0
#: slide size (µm) and the cleft's or tear's x
H, W = 9600.0, 12800.0
XC = W / 2
#: cleft slide: tissue below this y; white matter this wide under each bank
TOP = 800.0
WM = 2000.0
#: tear slide: the pia's y
PIA_Y = 2000.0
#: layer I: the pale band's relative depth (its width is about LAYER_I * T)
LAYER_I = 0.08


def _od(x: np.ndarray) -> np.ndarray:
    """OD at relative depth ``x`` (0 pia .. 1 white matter; beyond 1 white matter)."""
    xc = np.clip(x, 0, 1)
    layer_i = 0.35 / (1 + np.exp(-(xc - LAYER_I) / 0.02))
    layer_ii = 0.2 * np.exp(-(((xc - 0.15) / 0.04) ** 2))
    od = 0.35 + layer_i + layer_ii + 0.4 * np.exp(-(((xc - 0.5) / 0.07) ** 2))
    return np.where(x > 1, 0.25, od)


def _render(
    od: np.ndarray, glass: np.ndarray, seed: int, name: str, blur_um: float = 0.0
) -> Section:
    rng = np.random.default_rng(seed)
    od = np.where(glass, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))
    light = 240.0 * np.exp(-od)
    if blur_um > 0:  # the optics' blur of the transmitted light, before the sensor's noise
        from scipy import ndimage as ndi

        light = ndi.gaussian_filter(light, blur_um / FINE)
    img = np.clip(light + rng.normal(0, 2, od.shape), 1, 255)
    f = int(COARSE / FINE)
    h, w = img.shape
    coarse = img.reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    levels = [da.from_array(img.astype(np.uint8)), da.from_array(coarse.astype(np.uint8))]
    return Section(levels, [FINE, COARSE], name=name)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0 : int(H / FINE), 0 : int(W / FINE)]
    return (yy + 0.5) * FINE, (xx + 0.5) * FINE


def cleft_depth(gap_um: float) -> tuple[np.ndarray, np.ndarray]:
    """Relative cortical depth of each fine pixel of the cleft slide (0 at either bank's
    pia, 1 at its white matter; negative in the cleft) and the glass mask."""
    yy, xx = _grid()
    d = np.abs(xx - XC) - gap_um / 2
    x = d / T
    glass = (d < 0) | (yy < TOP) | (d > T + WM)
    return x, glass


def cleft_section(gap_um: float, seed: int = 0, blur_um: float = 0.0) -> Section:
    """Two banks across a cleft of ``gap_um`` µm of glass (see the module docstring);
    ``blur_um`` > 0: the transmitted light blurred by a Gaussian of that SD (µm) before
    the noise (a scan not perfectly sharp: the cleft mixes with the tissue beside it)."""
    x, glass = cleft_depth(gap_um)
    return _render(_od(x), glass, seed, f"cleft-{gap_um:g}" + (f"-blur{blur_um:g}" if blur_um else ""), blur_um)


def tear_depth(
    width_um: float, depth_um: float, hole_um: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Relative depth of each fine pixel of the tear slide and the glass mask (glass
    above the pia and in the tear; ``hole_um`` > 0: instead of the tear, a round hole of
    that diameter in the cortex, its centre ``depth_um`` under the pia)."""
    yy, xx = _grid()
    x = (yy - PIA_Y) / T
    if hole_um > 0:
        tear = np.hypot(xx - XC, yy - PIA_Y - depth_um) < hole_um / 2
    else:
        tear = (np.abs(xx - XC) < width_um / 2) & (yy < PIA_Y + depth_um)
    return x, (x < 0) | tear


def tear_section(
    width_um: float, depth_um: float = 1000.0, seed: int = 0, hole_um: float = 0.0
) -> Section:
    """A flat cortex with a radial tear or a hole (see :func:`tear_depth`)."""
    x, glass = tear_depth(width_um, depth_um, hole_um)
    return _render(_od(x), glass, seed, f"tear-{width_um:g}-{hole_um:g}")


def square(yc: float, xc: float, side: float = 3000.0) -> np.ndarray:
    """A square ROI ``(4, 2)`` (y, x) µm centred at ``(yc, xc)``."""
    a = side / 2
    return np.array([[yc - a, xc - a], [yc - a, xc + a], [yc + a, xc + a], [yc + a, xc - a]])
