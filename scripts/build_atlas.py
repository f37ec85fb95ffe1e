"""Build ``src/cytowords/atlas/areas.yaml`` from the shared facts table plus curation.

Usage: ``python scripts/build_atlas.py [FACTS_YAML] [OUT_YAML]``

Categorical layer terms become numbers through the tables below (per-layer baselines times
term multipliers), then ``atlas_curation`` adds aliases, unseen choices, thickness
corrections, sublayers, special cells and the quantitative tweaks of the hardest pairs. A
deterministic per-area signature (±12 % per layer thickness, density and soma size, from a
hash of the id) makes areas whose categorical facts are identical differ quantitatively, as
their GLI profiles do; the partners of the hardest pairs share their signature.
"""

from __future__ import annotations

import colorsys
import hashlib
import os
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
import atlas_curation as cur  # noqa: E402

ATLAS_VERSION = "1.1.0"
SIG = 0.12  # amplitude of the per-area quantitative signature
ROOT = Path(__file__).resolve().parents[1]
FACTS = Path("/work/shared/reference/areas_facts.yaml")
OUT = ROOT / "src" / "cytowords" / "atlas" / "areas.yaml"
LAYERS = ("I", "II", "III", "IV", "V", "VI")

# per-layer baseline share of cortical depth, multiplied by the rel_thickness term
BASE_REL = {"I": 0.09, "II": 0.08, "III": 0.30, "IV": 0.09, "V": 0.20, "VI": 0.24}
REL_MULT = {
    "absent": 0.0,
    "very thin": 0.5,
    "thin": 0.72,
    "medium": 1.0,
    "thick": 1.35,
    "very thick": 1.75,
}
# neuronal soma profiles per mm² of a 20 µm section. The BigBrain segmentation sample counts
# ~330 (I) to ~1200 (VI) cells/mm² but undercounts small and overlapping profiles;
# stereological densities (40-100k neurons/mm³, profiles over ~30 µm) give 1200-3000/mm².
DENSITY = {"very low": 350.0, "low": 900.0, "medium": 1500.0, "high": 2400.0, "very high": 3300.0}
# mean soma diameter (µm) of the layer's neurons (BigBrain medians 32-44 µm² ≈ 6.5-7.5 µm)
SIZE = {
    "small": 6.5,
    "small-medium": 7.5,
    "medium": 9.0,
    "medium-large": 10.5,
    "large": 12.0,
    "giant": 14.0,
}
PYR = {"I": 0.05, "II": 0.35, "III": 0.85, "IV": 0.15, "V": 0.85, "VI": 0.55}
CONTRAST = {"sharp": 1.0, "moderate": 0.7, "blurred": 0.45}
COLUMNS = {"strong": 0.8, "weak": 0.3, "none": 0.05}
WM_BORDER = {"sharp": 1.0, "gradual": 0.4}
THICK_MM = {"thin": 2.15, "medium": 2.6, "thick": 3.2}
# CA1 has no six layers: map strata onto I-VI (pial side = lacunosum-moleculare)
CA1_LAYERS = {
    "I": ("thick", "very low", "small", "strata lacunosum-moleculare and radiatum"),
    "II": ("very thin", "very low", "small", "nominal (no layer II in allocortex)"),
    "III": ("very thick", "high", "medium", "stratum pyramidale, loosely packed"),
    "IV": ("absent", "very low", "small", "nominal"),
    "V": ("very thin", "low", "medium", "deep edge of stratum pyramidale"),
    "VI": ("thin", "very low", "small", "stratum oriens (alveus is the white matter)"),
}


def _signature(area_id: str, key: str) -> float:
    """Deterministic factor in [1 - SIG, 1 + SIG] for (area, key).

    The partner of a hard pair shares the signature of the first area, so that only the
    curated, measured differences (``atlas_tweaks.TWEAKS``) separate the pair."""
    area_id = cur.SIGNATURE_OF.get(area_id, area_id)
    h = hashlib.sha256(f"{area_id}/{key}".encode()).digest()
    return 1 - SIG + 2 * SIG * (int.from_bytes(h[:4], "little") / 2**32)


def _iiic_factor(area: dict) -> float:
    """Size factor of deep layer III (IIIc) relative to the layer mean."""
    notes = (area["layers"]["III"].get("notes") or "").lower()
    size = area["layers"]["III"].get("cell_size", "medium")
    if "homogeneous" in notes or "no prominent" in notes or "no large" in notes:
        return 1.05
    if size in ("large", "medium-large", "giant") or "large iiic" in notes:
        return 1.4
    return 1.2 if size == "medium" else 1.08


def _layers(area: dict) -> dict:
    aid = area["id"]
    out = {}
    tweaks = cur.TWEAKS.get(aid, {})
    subl = cur.SUBLAYERS.get(aid, {})
    konio = area["cortex_type"] == "koniocortex"
    for lay in LAYERS:
        f = area["layers"][lay]
        if aid == "CA1":
            rel_t, den_t, size_t, note = CA1_LAYERS[lay]
        else:
            rel_t, den_t, size_t, note = (
                f["rel_thickness"],
                f["density"],
                f["cell_size"],
                f.get("notes"),
            )
        tw = tweaks.get(lay, {})
        rel = BASE_REL[lay] * REL_MULT[rel_t] * tw.get("rel", 1.0) * _signature(aid, lay + "rel")
        dens = DENSITY[den_t] * tw.get("density", 1.0) * _signature(aid, lay + "den")
        size = SIZE[size_t] * tw.get("size", 1.0) * _signature(aid, lay + "size")
        pyr = PYR[lay] * (0.5 if konio and lay in ("II", "III", "IV") else 1.0) * tw.get("pyr", 1.0)
        if aid == "CA1" and lay == "III":
            pyr = 0.95
        sub = [
            {
                "name": n,
                "fraction": fr,
                "density": round(dens * df, 1),
                "size_mean_um": round(size * sf, 2),
            }
            for n, fr, df, sf in subl.get(lay, [])
        ]
        if lay == "III" and not sub and aid != "CA1":
            g = _iiic_factor(area)
            sub = [
                {
                    "name": "IIIab",
                    "fraction": 0.6,
                    "density": round(dens * 1.03, 1),
                    "size_mean_um": round(size * (2 - g) ** 0.5, 2),
                },
                {
                    "name": "IIIc",
                    "fraction": 0.4,
                    "density": round(dens * 0.95, 1),
                    "size_mean_um": round(size * g, 2),
                },
            ]
        out[lay] = {
            "rel_thickness": rel,
            "density": round(dens, 1),
            "size_mean_um": round(size, 2),
            "size_sd_um": round(0.28 * size, 2),
            "pyramidal_fraction": round(min(pyr, 0.98), 3),
            "term": {"rel_thickness": rel_t, "density": den_t, "cell_size": size_t},
            "notes": note,
            "sublayers": sub,
        }
    total = sum(v["rel_thickness"] for v in out.values())
    for v in out.values():
        v["rel_thickness"] = round(v["rel_thickness"] / total, 4)
    # fix rounding so fractions sum to exactly 1
    out["VI"]["rel_thickness"] = round(1 - sum(out[k]["rel_thickness"] for k in LAYERS[:-1]), 4)
    return out


def _color(i: int) -> str:
    h = (i * 0.618033988749895) % 1.0
    s = (0.75, 0.95, 0.85)[i % 3]
    v = (0.98, 0.82, 0.66)[(i // 3) % 3]
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def build(facts_path: Path = FACTS) -> dict:
    facts = yaml.safe_load(facts_path.read_text())
    areas = facts["areas"]
    ids = {a["id"] for a in areas}
    for u in cur.UNSEEN:
        assert u in ids, u
    ordered = [a for a in areas if a["id"] not in cur.UNSEEN] + [
        a for a in areas if a["id"] in cur.UNSEEN
    ]
    out = []
    for i, a in enumerate(ordered):
        aid = a["id"]
        aliases = list(dict.fromkeys(cur.ALIASES.get(aid, []) + [a["siibra_name"]]))
        shared = cur.SHARED_ALIASES.get(aid, [])
        thick = cur.THICKNESS_MM.get(aid, THICK_MM[a["thickness"]] * _signature(aid, "thick"))
        out.append(
            {
                "id": aid,
                "label": i + 1,
                "name": a["full_name"],
                "aliases": aliases,
                "shared_aliases": shared,
                "lobe": a["lobe"].split(" (")[0].split("/")[0],
                "region": a["region"],
                "cortex_type": a["cortex_type"],
                "neighbours": [n for n in a["neighbours"] if n in ids],
                "in_scope": aid not in cur.UNSEEN,
                "unseen_reason": cur.UNSEEN.get(aid),
                "color": _color(i),
                "profile": {
                    "thickness_mm": round(thick, 3),
                    "laminar_contrast": CONTRAST[a["laminar_contrast"]],
                    "columnar_strength": COLUMNS[a["columnar_organisation"]],
                    "wm_border_sharpness": WM_BORDER[a["cortex_white_matter_border"]],
                    "layers": _layers(a),
                    "special": cur.SPECIAL.get(aid, []),
                },
                "facts": {
                    "siibra_name": a["siibra_name"],
                    "lobe_detail": a["lobe"],
                    "brodmann_equivalent": a["brodmann_equivalent"],
                    "von_economo_equivalent": a["von_economo_equivalent"],
                    "overall_cell_density": a["overall_cell_density"],
                    "thickness": a["thickness"],
                    "laminar_contrast": a["laminar_contrast"],
                    "columnar_organisation": a["columnar_organisation"],
                    "cortex_white_matter_border": a["cortex_white_matter_border"],
                    "layer_notes": {
                        k: v.get("notes") for k, v in a["layers"].items() if v.get("notes")
                    },
                    "allocortical_layers": a.get("allocortical_layers"),
                    "distinguishing_features": a["distinguishing_features"],
                    "neighbours_outside_atlas": [n for n in a["neighbours"] if n not in ids],
                    "confidence": a["confidence"],
                    "evidence": a["evidence"],
                    "source_checked_facts": a.get("source_checked_facts", []),
                    "sources": [
                        {k: s.get(k) for k in ("key", "cite", "url")} for s in a["sources"]
                    ],
                },
            }
        )
    meta = facts["meta"]
    return {
        "version": ATLAS_VERSION,
        "derived_from": f"areas_facts.yaml v{meta['version']} ({meta['date']})",
        "units": {
            "density": "neuronal somata per mm² of a 20 µm section",
            "size": "soma diameter µm",
            "thickness": "mm",
        },
        "term_scales": {
            "rel_thickness_base": BASE_REL,
            "rel_thickness_mult": REL_MULT,
            "density": DENSITY,
            "cell_size_um": SIZE,
            "laminar_contrast": CONTRAST,
            "columnar": COLUMNS,
            "wm_border": WM_BORDER,
            "thickness_mm": THICK_MM,
        },
        "hard_pairs": [p["pair"] for p in meta["hardest_pairs"]],
        "hard_pairs_runners_up": meta["hard_pairs_runners_up"],
        "areas": out,
    }


def main(argv: list[str]) -> int:
    facts = Path(argv[1]) if len(argv) > 1 else FACTS
    dest = Path(argv[2]) if len(argv) > 2 else OUT
    data = build(facts)
    tmp = dest.with_suffix(".yaml.tmp")
    header = "# GENERATED by scripts/build_atlas.py from areas_facts.yaml + atlas_curation.py\n"
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
    os.replace(tmp, dest)
    n_in = sum(a["in_scope"] for a in data["areas"])
    print(f"wrote {dest}: {n_in} in scope, {len(data['areas']) - n_in} unseen")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
