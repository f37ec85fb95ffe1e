"""Does the familiarity verdict of the pixel-size check tell tissue like the training
sections from tissue the model does not know? Shares per image, with the bundle's domain
model (:mod:`cytowords.model.domain`) beside the open-set acceptance.

Familiar cases (must stay familiar): virtual sections of held-out brains 200-204 (realistic
generator, their unseen areas included) and those sections with perturbations that real
scans have: another stain strength (absorbance ×0.5 with the white level 20 grey levels
down; absorbance ×2), JPEG at quality 50, 12-bit values in uint16.
Unfamiliar proxies (no real Nissl scan is available here): scikit-image's real human IHC
image (RGB, read through the optical-density conversion of RGB scans), its ``cell`` image
(light microscopy), natural textures (grass, gravel), brain 200's section with its pixel
size stated 4× too small or too large, and contrast-inverted tissue. Every image is an
80 × 60 mm slide at 32 µm per pixel (the small images mirrored to fill it, inside a bright
border as glass); the check reads it as ``cytowords pixel-size`` does (dense, 16 windows).

    python benchmarks/familiarity.py [--model default] [--brains 200 201 202 203 204]
        [--cases all|familiar|proxies] [--json OUT]

Prints per image: the verdict, the best open-set acceptance over the pixel sizes tried,
the share of tissue fields within the domain cutoff at the stated size and at best, and
the process CPU seconds of the check. The cutoff and :data:`MIN_DOMAIN` come from the
validation brains (``python -m cytowords.training.stages.domain``), not from these images.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cytowords.describe import Describer  # noqa: E402
from cytowords.sections import NoTissueError  # noqa: E402
from cytowords.sections.scale_check import check_pixel_size, rescaled  # noqa: E402
from cytowords.synth.section import virtual_section  # noqa: E402
from tests.support.slides import PX_UM, on_glass, pyramid  # noqa: E402


def synthetic(brain: int) -> np.ndarray:
    """Brain ``brain``'s virtual section (unseen areas included) at 32 µm, uint8."""
    sec = virtual_section(brain, size_mm=(80, 60), pixel_size_um=PX_UM, include_unseen=True)
    return np.asarray(sec.levels[0].compute())


def stain(img: np.ndarray, od_factor: float, white_shift: float) -> np.ndarray:
    """Absorbance relative to the glass scaled by ``od_factor``, white level shifted."""
    x = img.astype(np.float64)
    glass = max(float(np.percentile(x, 99.5)), 1.0)
    od = -np.log(np.clip(x, 1.0, None) / glass) * od_factor
    return np.clip(np.rint((glass + white_shift) * np.exp(-od)), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int = 50) -> np.ndarray:
    """``img`` stored as one JPEG at ``quality`` and read back."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf))


def familiar_cases(brains: list[int]):
    """``(name, kind, section)`` of the held-out sections and their perturbations."""
    for b in brains:
        img = synthetic(b)
        yield f"brain {b}", "familiar", pyramid(img, name=f"b{b}")
        if b == brains[0] or b == brains[-1]:
            yield f"brain {b} stain weak", "familiar", pyramid(stain(img, 0.5, -20))
            yield f"brain {b} stain strong", "familiar", pyramid(stain(img, 2.0, 0))
            yield f"brain {b} JPEG q50", "familiar", pyramid(jpeg(img))
            yield f"brain {b} 12-bit", "familiar", pyramid(img.astype(np.uint16) * 16)


def proxy_cases(brain: int):
    """``(name, kind, section)`` of the unfamiliar proxies."""
    from skimage import data

    yield "IHC (skimage, RGB)", "proxy", pyramid(on_glass(data.immunohistochemistry()))
    yield "cell (skimage)", "proxy", pyramid(on_glass(data.cell()))
    yield "grass texture", "proxy", pyramid(on_glass(data.grass()))
    yield "gravel texture", "proxy", pyramid(on_glass(data.gravel()))
    img = synthetic(brain)
    sec = pyramid(img, name=f"b{brain}")
    yield f"brain {brain} stated x4", "proxy", rescaled(sec, 4.0)
    yield f"brain {brain} stated x1/4", "proxy", rescaled(sec, 0.25)
    yield f"brain {brain} inverted", "proxy", pyramid(255 - img)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=[200, 201, 202, 203, 204])
    ap.add_argument("--cases", choices=("all", "familiar", "proxies"), default="all")
    ap.add_argument("--json", default=None, help="write the rows here")
    a = ap.parse_args()
    torch.set_num_threads(2)
    d = Describer(a.model, device="cpu")
    domain = d.bundle.domain
    print(
        f"model {a.model}: domain model "
        + ("none" if domain is None else f"cutoff {domain.cutoff:.2f} ({domain.info})")
    )
    cases = []
    if a.cases in ("all", "familiar"):
        cases.append(familiar_cases(a.brains))
    if a.cases in ("all", "proxies"):
        cases.append(proxy_cases(a.brains[0]))
    rows = []
    for gen in cases:
        for name, kind, sec in gen:
            c = time.process_time()
            try:
                res = check_pixel_size(sec, d)
            except NoTissueError:
                print(f"{name:26s} {kind:8s} no tissue found")
                rows.append({"name": name, "kind": kind, "verdict": "no tissue"})
                continue
            cpu = time.process_time() - c
            dom = res.domain or (float("nan"),)
            here = float("nan") if res.domain is None else res.domain_familiarity
            row = {
                "name": name,
                "kind": kind,
                "familiar": res.familiar,
                "verdict": res.verdict,
                "accepted_best": round(max(res.accepted), 3),
                "domain_stated": None if res.domain is None else round(res.domain_familiarity, 3),
                "domain_best": None if res.domain is None else round(max(dom), 3),
                "n_fields": res.n_fields,
                "cpu_s": round(cpu, 1),
            }
            rows.append(row)
            print(
                f"{name:26s} {kind:8s} familiar={str(res.familiar):5s} {res.verdict:12s} "
                f"accepted best {max(res.accepted):4.0%}  domain stated "
                f"{here:4.0%} best {max(dom):4.0%}  "
                f"{res.n_fields} fields  {cpu:.0f} s CPU",
                flush=True,
            )
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
