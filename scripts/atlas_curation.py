"""Hand curation applied on top of ``areas_facts.yaml`` by ``scripts/build_atlas.py``.

Holds what the facts table does not: literature aliases, the choice of unseen areas (with
reasons), corrected overall thickness (mm), special cells and area-specific quantitative
tweaks that encode the measured differences of the hardest pairs.
"""

from __future__ import annotations

# --- aliases (literature names; never a bare number) -------------------------------------
ALIASES: dict[str, list[str]] = {
    "hOc1": [
        "V1",
        "area 17",
        "BA17",
        "Brodmann area 17",
        "striate cortex",
        "area striata",
        "primary visual cortex",
        "visual koniocortex",
        "area OC",
    ],
    "hOc2": [
        "V2",
        "area 18",
        "BA18",
        "Brodmann area 18",
        "parastriate cortex",
        "secondary visual cortex",
        "area OB",
    ],
    "hOc3d": ["V3d", "dorsal V3", "area V3d"],
    "hOc4d": ["V3A", "area V3A"],
    "hOc3v": ["V3v", "VP", "ventral V3", "ventral posterior area"],
    "hOc4v": ["hV4", "V4v", "ventral V4", "human V4"],
    "hOc4lp": ["LO1", "lateral occipital area 1"],
    "hOc4la": ["LO2", "lateral occipital area 2"],
    "hOc5": ["V5", "MT", "hMT+", "V5/MT+", "MT+", "middle temporal visual area"],
    "FG1": ["area FG1", "posterior medial fusiform area"],
    "FG2": ["area FG2", "posterior lateral fusiform area"],
    "FG3": ["area FG3", "mid-fusiform medial area"],
    "FG4": ["area FG4", "mid-fusiform lateral area"],
    "4a": ["area 4a", "anterior primary motor cortex", "anterior M1", "M1a"],
    "4p": ["area 4p", "posterior primary motor cortex", "posterior M1", "M1p"],
    "6d1": ["area 6d1", "caudal dorsal premotor cortex", "caudal PMd"],
    "6d2": ["area 6d2", "rostral dorsal premotor cortex", "rostral PMd"],
    "6mp": ["area 6mp", "SMA", "SMA proper", "supplementary motor area", "F3"],
    "6ma": ["area 6ma", "pre-SMA", "preSMA", "pre-supplementary motor area", "F6"],
    "3a": ["area 3a", "BA3a", "Brodmann area 3a"],
    "3b": ["area 3b", "BA3b", "Brodmann area 3b", "S1 proper", "somatosensory koniocortex"],
    "1": ["area 1", "BA1", "Brodmann area 1"],
    "2": ["area 2", "BA2", "Brodmann area 2"],
    "5L": ["area 5L", "lateral area 5"],
    "5M": ["area 5M", "medial area 5"],
    "5Ci": ["area 5Ci", "cingulate area 5"],
    "7PC": ["area 7PC", "postcentral area 7"],
    "7A": ["area 7A", "anterior area 7"],
    "7P": ["area 7P", "posterior area 7"],
    "7M": ["area 7M", "medial area 7", "precuneal area 7"],
    "hIP1": ["area hIP1", "human intraparietal area 1"],
    "hIP2": ["area hIP2", "human intraparietal area 2", "AIP"],
    "hIP3": ["area hIP3", "human intraparietal area 3"],
    "hIP7": ["area hIP7", "human intraparietal area 7"],
    "hIP4": ["area hIP4", "human intraparietal area 4"],
    "PFop": ["area PFop", "opercular PF"],
    "PFt": ["area PFt", "tenuicortical PF"],
    "PF": ["area PF", "supramarginal area PF"],
    "PFm": ["area PFm", "intermediate PF"],
    "PFcm": ["area PFcm", "caudomedial PF"],
    "PGa": ["area PGa", "anterior angular area"],
    "PGp": ["area PGp", "posterior angular area"],
    "OP1": ["area OP1", "Op1", "SII", "secondary somatosensory cortex"],
    "OP2": ["area OP2", "Op2", "parieto-insular vestibular cortex", "PIVC"],
    "OP3": ["area OP3", "Op3", "ventral somatosensory area", "VS"],
    "OP4": ["area OP4", "Op4", "parietal ventral area", "PV"],
    "44": ["area 44", "BA44", "Brodmann area 44", "pars opercularis", "Broca's area 44"],
    "45": ["area 45", "BA45", "Brodmann area 45", "pars triangularis", "Broca's area 45"],
    "Fo1": ["area Fo1", "medial orbitofrontal area Fo1"],
    "Fo2": ["area Fo2", "medial orbitofrontal area Fo2"],
    "Fo3": ["area Fo3", "medial orbitofrontal area Fo3"],
    "Fp1": ["area Fp1", "lateral frontopolar area", "lateral area 10"],
    "Fp2": ["area Fp2", "medial frontopolar area", "medial area 10"],
    "Ig1": ["area Ig1", "granular insula area 1"],
    "Ig2": ["area Ig2", "granular insula area 2"],
    "Id1": ["area Id1", "dysgranular insula area 1"],
    "Te1.0": ["area Te1.0", "Te 1.0", "central primary auditory cortex"],
    "Te1.1": ["area Te1.1", "Te 1.1", "posteromedial primary auditory cortex"],
    "Te1.2": ["area Te1.2", "Te 1.2", "anterolateral primary auditory cortex"],
    "Te2.1": ["area Te2.1", "Te 2.1", "planum temporale area Te2.1"],
    "Te3": ["area Te3", "Te 3", "lateral superior temporal area Te3"],
    "25": ["area 25", "BA25", "Brodmann area 25", "subgenual area 25", "subcallosal area"],
    "s24": ["area s24", "subgenual area 24", "subgenual ACC area 24"],
    "p24ab": ["area p24ab", "pregenual area 24ab", "pregenual ACC area 24"],
    "p24c": ["area p24c", "pregenual area 24c"],
    "s32": ["area s32", "subgenual area 32"],
    "p32": ["area p32", "pregenual area 32"],
    "33": ["area 33", "BA33", "Brodmann area 33", "pregenual area 33"],
    "EC": ["entorhinal cortex", "area 28", "BA28", "Brodmann area 28", "area entorhinalis"],
    "CA1": ["cornu ammonis 1", "CA1 field", "field CA1", "Sommer's sector"],
}

#: aliases shared by several areas (ambiguous on purpose: the miner uses them for all)
SHARED_ALIASES: dict[str, list[str]] = {
    "4a": [
        "area 4",
        "BA4",
        "Brodmann area 4",
        "primary motor cortex",
        "M1",
        "area gigantopyramidalis",
    ],
    "4p": [
        "area 4",
        "BA4",
        "Brodmann area 4",
        "primary motor cortex",
        "M1",
        "area gigantopyramidalis",
    ],
    "Te1.0": [
        "area 41",
        "BA41",
        "Brodmann area 41",
        "primary auditory cortex",
        "A1",
        "Heschl's gyrus",
    ],
    "Te1.1": [
        "area 41",
        "BA41",
        "Brodmann area 41",
        "primary auditory cortex",
        "A1",
        "Heschl's gyrus",
    ],
    "Te1.2": [
        "area 41",
        "BA41",
        "Brodmann area 41",
        "primary auditory cortex",
        "A1",
        "Heschl's gyrus",
    ],
    "6d1": ["dorsal premotor cortex", "PMd"],
    "6d2": ["dorsal premotor cortex", "PMd"],
    "Ig1": ["granular insula"],
    "Ig2": ["granular insula"],
    "FG1": ["area 37"],
    "FG2": ["area 37"],
    "FG3": ["area 37"],
    "FG4": ["area 37"],
    "PF": ["area 40", "BA40", "supramarginal gyrus"],
    "PFm": ["area 40", "BA40", "supramarginal gyrus"],
    "PGa": ["area 39", "BA39", "angular gyrus"],
    "PGp": ["area 39", "BA39", "angular gyrus"],
    "s24": ["area 24", "BA24"],
    "p24ab": ["area 24", "BA24"],
    "p24c": ["area 24", "BA24"],
    "s32": ["area 32", "BA32"],
    "p32": ["area 32", "BA32"],
    "Fp1": ["area 10", "BA10", "frontal pole"],
    "Fp2": ["area 10", "BA10", "frontal pole"],
    "6mp": ["mesial area 6"],
    "6ma": ["mesial area 6"],
}

# --- unseen areas (open-set tests only) ---------------------------------------------------
UNSEEN: dict[str, str] = {
    "hOc5": "occipital granular isocortex; neighbour of in-scope hOc4la/FG2, a near-miss test",
    "Te1.2": "temporal koniocortex; neighbour of in-scope Te1.0/Te3, resembles the Te1 pair",
    "hIP3": "parietal granular isocortex; neighbour of in-scope hIP1/7A/7P, intraparietal",
    "5Ci": "parietal dysgranular cortex; cingulate-sulcus transition, neighbour of 5M/p24c",
    "OP3": "opercular dysgranular cortex; neighbour of in-scope OP4/Ig1",
    "Id1": "insular dysgranular cortex; neighbour of in-scope Ig1/Ig2 (hard-pair neighbour)",
    "Fo2": "orbitofrontal granular-dysgranular cortex; neighbour of in-scope Fo1/Fo3/25",
    "33": "periallocortex (limbic); thin poorly laminated strip next to s24/p24ab",
    "EC": "periallocortex (mesial temporal); cell islands in II and lamina dissecans",
    "CA1": "allocortex (hippocampus); single principal cell layer, far from all in-scope areas",
}

# --- overall thickness corrections (mm, mean over brains) ---------------------------------
THICKNESS_MM: dict[str, float] = {
    "hOc1": 1.9,
    "hOc2": 2.1,
    "3b": 1.8,
    "3a": 2.2,
    "4a": 3.8,
    "4p": 3.3,
    "6d1": 3.5,
    "6d2": 3.3,
    "6mp": 3.2,
    "6ma": 3.1,
    "44": 3.1,
    "45": 3.0,
    "Te1.0": 2.4,
    "Te1.1": 2.2,
    "Te1.2": 2.5,
    "Te3": 3.1,
    "PF": 3.0,
    "PFm": 2.9,
    "PFt": 2.3,
    "hIP1": 2.2,
    "s24": 2.1,
    "p24ab": 2.6,
    "25": 1.9,
    "33": 1.3,
    "EC": 2.9,
    "CA1": 1.6,
    "hOc4v": 2.6,
    "hOc3v": 2.45,
    "hOc4la": 2.65,
    "hOc4lp": 2.5,
    "FG3": 2.65,
    "FG4": 2.75,
    "Ig1": 2.6,
    "Ig2": 2.7,
}

# --- special cells: kind, layer, density (per mm² of that layer in a 20 µm section), size
SPECIAL: dict[str, list[dict]] = {
    "4a": [{"kind": "betz", "layer": "V", "sublayer": "Vb", "density": 14.0, "size_um": 38.0}],
    "4p": [{"kind": "betz", "layer": "V", "sublayer": "Vb", "density": 7.0, "size_um": 34.0}],
    "6d1": [
        {"kind": "giant_pyramid", "layer": "V", "sublayer": "Vb", "density": 3.0, "size_um": 28.0}
    ],
    "6mp": [
        {"kind": "giant_pyramid", "layer": "V", "sublayer": "Vb", "density": 2.5, "size_um": 26.0}
    ],
    "hOc1": [
        {"kind": "meynert", "layer": "VI", "sublayer": "VIa", "density": 4.0, "size_um": 26.0}
    ],
    "3a": [{"kind": "giant_pyramid", "layer": "V", "density": 4.0, "size_um": 26.0}],
    "5L": [
        {
            "kind": "ganglion_pyramid",
            "layer": "V",
            "sublayer": "Va",
            "density": 12.0,
            "size_um": 28.0,
        }
    ],
    "5M": [
        {
            "kind": "ganglion_pyramid",
            "layer": "V",
            "sublayer": "Va",
            "density": 10.0,
            "size_um": 29.0,
        }
    ],
    "5Ci": [{"kind": "ganglion_pyramid", "layer": "V", "density": 7.0, "size_um": 25.0}],
    "44": [
        {
            "kind": "magnopyramidal",
            "layer": "III",
            "sublayer": "IIIc",
            "density": 25.0,
            "size_um": 26.0,
        }
    ],
    "45": [
        {
            "kind": "magnopyramidal",
            "layer": "III",
            "sublayer": "IIIc",
            "density": 25.0,
            "size_um": 25.0,
        }
    ],
    "Te3": [
        {
            "kind": "magnopyramidal",
            "layer": "III",
            "sublayer": "IIIc",
            "density": 22.0,
            "size_um": 25.0,
        }
    ],
    "PF": [
        {
            "kind": "magnopyramidal",
            "layer": "III",
            "sublayer": "IIIc",
            "density": 20.0,
            "size_um": 25.0,
        }
    ],
    "PFm": [
        {
            "kind": "magnopyramidal",
            "layer": "III",
            "sublayer": "IIIc",
            "density": 15.0,
            "size_um": 24.0,
        }
    ],
    "hOc2": [
        {
            "kind": "magnopyramidal",
            "layer": "III",
            "sublayer": "IIIc",
            "density": 30.0,
            "size_um": 20.0,
        }
    ],
    "EC": [{"kind": "cell_islands", "layer": "II", "density": 220.0, "size_um": 22.0}],
}

from atlas_tweaks import SUBLAYERS, TWEAKS  # noqa: E402,F401

#: hard-pair partners reuse the first area's quantitative signature (see build_atlas)
SIGNATURE_OF: dict[str, str] = {
    "4p": "4a",
    "Te1.1": "Te1.0",
    "FG4": "FG3",
    "hOc4v": "hOc3v",
    "hOc4la": "hOc4lp",
    "Ig2": "Ig1",
    "6ma": "6mp",
    "6d2": "6d1",
    "PFm": "PF",
    "p24ab": "s24",
}
