"""Sublayers and quantitative tweaks applied by ``scripts/build_atlas.py`` (see atlas_curation)."""

from __future__ import annotations

# --- sublayers: layer -> [(name, fraction of layer, density factor, size factor)] ----------
SUBLAYERS: dict[str, dict[str, list[tuple[str, float, float, float]]]] = {
    "hOc1": {
        "IV": [("IVa", 0.22, 1.15, 0.9), ("IVb", 0.33, 0.45, 1.0), ("IVc", 0.45, 1.35, 0.8)],
        "VI": [("VIa", 0.55, 1.2, 1.0), ("VIb", 0.45, 0.75, 1.0)],
    },
    "s32": {"II": [("IIa", 0.5, 1.5, 1.0), ("IIb", 0.5, 0.5, 1.0)]},
    "6mp": {"V": [("Va", 0.5, 1.25, 1.0), ("Vb", 0.5, 0.85, 1.1)]},
    "6ma": {"V": [("Va", 0.5, 1.0, 1.0), ("Vb", 0.5, 1.0, 1.0)]},
    "5L": {"V": [("Va", 0.45, 1.1, 1.2), ("Vb", 0.55, 0.55, 0.9)]},
    "5M": {"V": [("Va", 0.45, 1.05, 1.2), ("Vb", 0.55, 0.6, 0.9)]},
    "1": {
        "V": [("Va", 0.5, 1.15, 1.1), ("Vb", 0.5, 0.8, 0.9)],
        "VI": [("VIa", 0.5, 1.1, 1.0), ("VIb", 0.5, 0.8, 0.9)],
    },
    "6d2": {"VI": [("VIa", 0.5, 1.15, 1.0), ("VIb", 0.5, 0.8, 1.0)]},
    "p24c": {"V": [("Va", 0.5, 0.95, 1.15), ("Vb", 0.5, 1.1, 1.0)]},
}

# --- quantitative tweaks: area -> layer -> {rel|density|size|pyr: multiplier} ----------------
# Encode the measured (GLI/profile) differences named in the facts where the categorical terms
# are identical; magnitudes are of the order reported for statistical borders (5-20 %).
TWEAKS: dict[str, dict[str, dict[str, float]]] = {
    "4a": {"V": {"density": 0.95}, "III": {"density": 0.95}},
    "4p": {"III": {"density": 1.08}, "V": {"rel": 0.92}, "VI": {"density": 1.06}},
    "Te1.0": {"IV": {"rel": 1.1}, "III": {"size": 0.95}},
    "Te1.1": {"II": {"density": 1.08}, "IV": {"rel": 0.9, "density": 1.06}, "V": {"rel": 1.1}},
    "FG3": {"III": {"size": 0.93}, "V": {"density": 1.05}},
    "FG4": {"III": {"size": 1.05, "rel": 0.95}, "IV": {"density": 1.08}},
    "hOc3v": {"IV": {"density": 1.06}, "V": {"rel": 1.05}},
    "hOc4v": {"III": {"size": 1.08}},
    "hOc4lp": {"IV": {"density": 1.08}, "III": {"size": 0.95}},
    "hOc4la": {"III": {"size": 1.08}},
    "Ig1": {"III": {"size": 0.95}, "V": {"density": 0.92}},
    "Ig2": {"III": {"size": 1.08}, "V": {"density": 1.08, "rel": 1.05}},
    "6mp": {"III": {"density": 1.1}},
    "6ma": {"II": {"density": 1.1}, "V": {"rel": 1.08}},
    "6d1": {"III": {"size": 1.1}},
    "6d2": {"V": {"density": 1.08, "rel": 1.05}},
    "PF": {"III": {"size": 1.06}, "IV": {"rel": 0.9}},
    "PFm": {"IV": {"rel": 1.1}},
    "s24": {"V": {"density": 1.05}},
    "p24ab": {"III": {"density": 0.95}},
    "hOc5": {"V": {"density": 0.85}},
    "Fp1": {"III": {"density": 0.9}},
    "3b": {"II": {"density": 1.1}, "III": {"density": 1.15}},
}
