"""The readout-conditioned captioner: readout vector, caption targets, slots, bundle, claims."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from cytowords.measure import LayerEstimate, Readout
from cytowords.measure.vector import (
    READOUT_DIM,
    make_vector,
    missing_vector,
    readout_vector,
    vector_values,
)
from cytowords.model.caption_input import caption_input_dim, fill_slots
from cytowords.training.data.caption_targets import (
    caption_target,
    clause_contradicts,
    measured_sentences,
    split_caption,
)
from cytowords.training.data.readout_truth import (
    COARSE_SCAN,
    FINE_SCAN,
    SCANS,
    FieldTruth,
    ReadoutNoise,
    brain_truth,
    draw_scans,
    field_truths,
    simulated_vectors,
)
from cytowords.training.evaluate.claims import caption_scores, claim_checks, specificity

MOTOR = (
    "Area 4p (primary motor cortex, posterior part): agranular and has no distinct layer IV; "
    "giant Betz cells in layer V, no layer IV and a low cell density on the sulcal wall."
)
VISUAL = (
    "Area hOc1 (primary visual cortex): the thin koniocortex of the calcarine sulcus; "
    "a very thick layer IV that splits into three tiers; no layer IV is visible."
)


def _layers(ctype: str) -> LayerEstimate:
    return LayerEstimate(
        0.08, 200.0, ctype != "agranular", 0.2, 0.4, 0.5, 250.0, ctype, 0.1, "moderate"
    )


def test_vector_from_a_readout_and_missing():
    r = Readout(area_mm2=9.0, profile_pixel_um=10.0, n_traverses=12, thickness_mm=2.5)
    r.layers = _layers("granular")
    v = readout_vector(r)
    assert v.shape == (READOUT_DIM,) and v.dtype == np.float32
    got = vector_values(v)
    assert got["measured"] and got["thickness_mm"] == pytest.approx(2.5)
    assert got["layer_i_mm"] == pytest.approx(0.2) and got["cortex_type"] == "granular"
    assert got["iv_rel_width"] == pytest.approx(0.1) and not got["oblique"]
    # no traverse crossed the cortex: the missing vector, which says nothing
    assert not readout_vector(Readout(area_mm2=1.0, profile_pixel_um=10.0)).any()
    assert vector_values(missing_vector()) == {
        "measured": False,
        "thickness_mm": None,
        "layer_i_mm": None,
        "cortex_type": None,
        "iv_rel_width": 0.0,
        "oblique": False,
    }
    with pytest.raises(ValueError, match="cortex type"):
        make_vector(2.0, cortex_type="granular isocortex")


def test_slots_are_filled_from_the_readout_or_left_out():
    text = "Area 4a: agranular. Here the cortex is about {thickness} mm thick. Layer I is about {layer_i} mm wide."
    v = make_vector(3.46, layer_i_um=310.0, cortex_type="agranular")
    assert fill_slots(text, v) == (
        "Area 4a: agranular. Here the cortex is about 3.5 mm thick. Layer I is about 0.31 mm wide."
    )
    # layer I not estimated: its sentence goes; nothing measured: both go
    assert (
        fill_slots(text, make_vector(2.0))
        == "Area 4a: agranular. Here the cortex is about 2.0 mm thick."
    )
    assert fill_slots(text, missing_vector()) == "Area 4a: agranular."
    assert fill_slots("Area 4a: agranular.", None) == "Area 4a: agranular."
    # a slot the language model wrote only half of is dropped with its sentence
    broken = "Area 4a. Layer_i} mm. Here the cortex is about {thickness} mm thick."
    assert fill_slots(broken, v) == "Area 4a. Here the cortex is about 3.5 mm thick."


def test_truth_of_a_synthetic_brain_and_its_noisy_readout():
    t = brain_truth(3, "4a")
    assert t.area == "4a" and t.cortex_type == "agranular" and "betz" in t.special
    assert 2.0 < t.thickness_mm < 5.0 and 0 < t.layer_i_um < 1000
    assert brain_truth(3, "hOc1").cortex_type == "koniocortex"
    truths = field_truths(
        np.array(["4a", "__none__", "4a"]), np.array(["synth-3", "synth-3", "user-1"])
    )
    assert truths[0] == t and truths[1] is None and truths[2] is None
    noise = ReadoutNoise()
    g = brain_truth(3, "hOc1")
    n = 600
    for scan in SCANS:
        err = noise.errors(scan)
        on = np.full(n, scan, dtype=object)
        vals = [vector_values(v) for v in simulated_vectors([t] * n, seed=1, noise=noise, scans=on)]
        measured = [v for v in vals if v["measured"]]
        assert abs(len(measured) / n - (1 - err.missing)) < 0.04
        assert abs(np.mean([v["oblique"] for v in measured]) - err.oblique) < 0.05
        rel = np.log([v["thickness_mm"] / t.thickness_mm for v in measured if not v["oblique"]])
        assert abs(np.median(rel) - err.thickness_bias) < 0.015
        assert abs(rel.std() / err.thickness_rel_sd - 1) < 0.15
        # layer I's width: the measured median error and robust SD
        l1 = np.array([v["layer_i_mm"] * 1000.0 for v in measured]) - t.layer_i_um
        assert abs(np.median(l1) - err.layer_i_bias_um) < 6.0
        assert abs(l1.std() / err.layer_i_sd_um - 1) < 0.15
        # the readout never calls a cortex agranular: 4a reads granular (a false band) or
        # undecided, at the rate measured on this kind of scan
        types = [v["cortex_type"] for v in measured]
        assert set(types) <= {"granular", None}
        assert abs(types.count("granular") / len(types) - err.iv_false_band) < 0.06
        gvals = [
            vector_values(v) for v in simulated_vectors([g] * n, seed=2, noise=noise, scans=on)
        ]
        gtypes = [v["cortex_type"] for v in gvals if v["measured"]]
        assert set(gtypes) <= {"koniocortex", None}
        assert abs(gtypes.count(None) / len(gtypes) - err.iv_undecided) < 0.06
    # the two kinds of scan differ where the grain decides: a fine scan leaves fewer
    # granular regions undecided and shows fewer false bands
    assert noise.fine.iv_undecided < noise.coarse.iv_undecided
    assert noise.fine.iv_false_band < noise.coarse.iv_false_band
    # drawn per field: the share of fine scans is fine_share, and the mixed simulation's
    # undecided share lies between the two kinds' (their weighted mean)
    scans = draw_scans(2000, seed=4, noise=noise)
    assert set(scans) == set(SCANS)
    assert abs(np.mean(scans == "fine") - noise.fine_share) < 0.03
    np.testing.assert_array_equal(scans, draw_scans(2000, seed=4, noise=noise))
    mixed = [vector_values(v) for v in simulated_vectors([g] * 2000, seed=5, noise=noise)]
    mtypes = [v["cortex_type"] for v in mixed if v["measured"]]
    want = (
        noise.fine_share * noise.fine.iv_undecided
        + (1 - noise.fine_share) * noise.coarse.iv_undecided
    )
    assert abs(mtypes.count(None) / len(mtypes) - want) < 0.04
    with pytest.raises(ValueError, match="kind of scan"):
        noise.errors("medium")
    assert simulated_vectors([None], seed=0).sum() == 0


def test_simulated_readout_leaves_layer_i_unread_at_the_measured_share():
    """``layer_i_missing``: that share of the measured regions has no layer I (the rest as
    before); with the share 0 the draws are those of a noise model without it."""
    t = brain_truth(3, "hOc1")
    base = ReadoutNoise(fine=FINE_SCAN, coarse=COARSE_SCAN)
    some = ReadoutNoise(
        fine=replace(FINE_SCAN, layer_i_missing=0.25),
        coarse=replace(COARSE_SCAN, layer_i_missing=0.25),
    )
    vals = [vector_values(v) for v in simulated_vectors([t] * 2000, seed=3, noise=some)]
    measured = [v for v in vals if v["measured"]]
    unread = np.mean([v["layer_i_mm"] is None for v in measured])
    assert abs(unread - 0.25) < 0.03
    assert all(v["thickness_mm"] is not None for v in measured)
    zero = ReadoutNoise(
        fine=replace(FINE_SCAN, layer_i_missing=0.0),
        coarse=replace(COARSE_SCAN, layer_i_missing=0.0),
    )
    np.testing.assert_array_equal(
        simulated_vectors([t] * 50, seed=3, noise=zero),
        simulated_vectors([t] * 50, seed=3, noise=base),
    )


def test_caption_target_drops_what_the_field_contradicts_and_adds_measurements():
    head, clauses = split_caption(MOTOR)
    assert head == "Area 4p (primary motor cortex, posterior part)" and len(clauses) == 2
    thick_motor = FieldTruth("4p", 3.4, 300.0, "agranular", 0.0, ("betz",))
    rng = np.random.default_rng(0)
    agr = make_vector(3.3, layer_i_um=280.0, cortex_type="agranular")
    # (cells measured to support the Betz clause: tests/model/test_special_claims.py)
    out = caption_target(MOTOR, thick_motor, agr, rng, special=("betz",))
    # measured statements first, then the mined clauses word for word (nothing contradicted)
    # but for where the area lies (trimmed as in shown captions: tests/training/data)
    head = MOTOR.split(": ", 1)[0]
    assert out.startswith(head + ". ") and out.endswith(
        "Agranular and has no distinct layer IV; "
        "giant Betz cells in layer V, no layer IV and a low cell density."
    )
    assert out.index("{thickness}") < out.index("{layer_i}") < out.index("Agranular and")
    assert re.search(r"No layer IV band", out)
    # nothing measured: the mined caption as it is, but for the Betz clause (no cell
    # statistics support it: tests/model/test_special_claims.py)
    no_cells = (
        "Area 4p (primary motor cortex, posterior part): agranular and has no distinct layer IV."
    )
    assert caption_target(MOTOR, thick_motor, missing_vector(), rng) == no_cells
    # a field without Betz cells loses the Betz clause even where cells were measured
    no_betz = FieldTruth("4p", 3.4, 300.0, "agranular", 0.0, ())
    out = caption_target(MOTOR, no_betz, missing_vector(), rng, special=("betz",))
    assert (
        out
        == "Area 4p (primary motor cortex, posterior part): agranular and has no distinct layer IV."
    )
    # koniocortex: the "no layer IV" clause goes; a 2.95 mm field is not "thin"
    konio = FieldTruth("hOc1", 2.95, 150.0, "koniocortex", 0.2, ("meynert",))
    out = caption_target(VISUAL, konio, missing_vector(), rng)
    assert (
        out
        == "Area hOc1 (primary visual cortex): a very thick layer IV that splits into three tiers."
    )
    # the readout's word counts too: a measured agranular profile drops a layer IV claim
    # (the rule of the shown captions: tests/model/test_contradicted_claims.py)
    assert not clause_contradicts("a very dense layer IV", konio)
    assert clause_contradicts("a very dense layer IV", no_betz)  # agranular truth
    out = caption_target("Area X (x): a very dense layer IV; agranular.", None, agr, rng)
    assert "dense layer IV" not in out and out.endswith("Agranular.")
    # the rejection caption (no clauses) is kept as it is
    assert caption_target("Not a known area.", None, missing_vector(), rng) == "Not a known area."
    assert measured_sentences(missing_vector(), rng) == []


def test_claim_checks_and_specificity():
    t = {"thickness_mm": 2.0, "layer_i_um": 150.0, "iv_present": True, "special": ("meynert",)}
    cap = (
        "Area hOc1: thin koniocortex; Betz cells in layer V. Here the cortex is about 2.1 mm "
        "thick. Layer I is about 0.40 mm wide. The profile shows no layer IV band (agranular-like)."
    )
    got = dict(claim_checks(cap, t))
    assert got == {
        "thickness_term": True,
        "special": False,
        "thickness": True,
        "layer_i": False,
        "layer_iv": False,
    }
    caps = ["Here the cortex is about 2.0 mm thick.", "Here the cortex is about 3.0 mm thick.", "x"]
    assert specificity(caps, ["4a", "4a", "4a"], [2.0, 2.9, 2.5]) == (pytest.approx(1 / 2), 2)
    truths = [FieldTruth("4a", th, 300.0, "agranular", 0.0, ("betz",)) for th in (2.0, 2.9, 2.5)]
    s = caption_scores(caps, ["4a"] * 3, truths, training={"x"})
    assert s["claim_accuracy"] == 1.0 and s["n_claims"] == 2
    assert s["verbatim_training_share"] == pytest.approx(1 / 3)
    assert s["distinct_captions_per_area"] == 3.0 and s["specificity_pairs"] == 2


@pytest.fixture(scope="module")
def readout_bundle(tmp_path_factory):
    """(bundle folder, loaded bundle, embeddings) of a tiny trained readout bundle."""
    return _train_readout_bundle(tmp_path_factory.mktemp("readout"))


def _train_readout_bundle(tmp_path):
    """A tiny bundle whose captioner reads embedding + probs + readout, trained on targets
    that follow the readout."""
    from cytowords.model import build_default_lm, load_bundle, save_bundle
    from cytowords.model.captioner import Captioner
    from cytowords.model.projector import PrefixProjector, ProjectorConfig
    from cytowords.training.data.caption_targets import template_texts
    from cytowords.training.fit import fit_captioner
    from tests.support.tiny_bundle import make_tiny_bundle

    base = load_bundle(make_tiny_bundle(tmp_path / "base"), device="cpu")
    spec = "embedding+probs+readout"
    width = caption_input_dim(spec, base.embed_dim, len(base.area_ids) + 1)
    area_text = "Area 4a (primary motor cortex, anterior part): agranular."
    lm, tok = build_default_lm(
        [area_text, *template_texts()] * 2, vocab_size=300, n_layer=1, n_embd=32, n_head=2
    )
    torch.manual_seed(0)
    proj = PrefixProjector(ProjectorConfig(width, 32, k=2))
    proj.match_lm(lm)
    cap = Captioner(lm, tok, proj)
    emb = torch.randn(8, base.embed_dim)
    base.config["extra"] = {"caption_input": spec}  # features as the new bundle builds them
    truth = FieldTruth("4a", 3.0, 300.0, "agranular", 0.0, ("betz",))

    no_false_band = ReadoutNoise(
        fine=replace(FINE_SCAN, iv_false_band=0.0), coarse=replace(COARSE_SCAN, iv_false_band=0.0)
    )

    def batches(step):
        rng = np.random.default_rng(step)
        vecs = simulated_vectors([truth] * 8, seed=step, noise=no_false_band)
        texts = [caption_target(area_text, truth, v, rng) for v in vecs]
        return base.caption_features(emb, vecs).clone(), texts  # a normal tensor for autograd

    torch.set_num_threads(1)
    fit_captioner(cap, batches, steps=150, mode="full", lr=5e-3, warmup=5)
    path = save_bundle(
        tmp_path / "readout",
        encoder=base.encoder,
        head=base.head,
        scorer=base.scorer,
        area_ids=base.area_ids,
        captioner=cap,
        atlas_version="test",
        extra={"caption_input": spec, "readout_dim": READOUT_DIM},
    )
    return path, load_bundle(path, device="cpu"), emb


def test_readout_bundle_states_the_measured_thickness(readout_bundle, tiny_bundle):
    from cytowords.model import load_bundle

    _, b, emb = readout_bundle
    assert b.caption_input == "embedding+probs+readout" and b.uses_readout
    thin = make_vector(2.2, layer_i_um=200.0, cortex_type="agranular")
    thick = make_vector(3.6, layer_i_um=330.0, cortex_type="agranular")
    caps = b.caption(emb[:2], 80, areas=["4a", "4a"], readout=np.stack([thin, thick]))
    stated = [re.search(r"(\d\.\d) mm", c) for c in caps]
    assert all(stated), caps
    assert [float(m.group(1)) for m in stated] == [2.2, 3.6]  # the measured numbers, in order
    assert all(c.startswith("Area 4a") and "{" not in c for c in caps)
    # no readout ("missing"): no measured statement, no slot left in the text
    free = b.caption(emb[:1], 80, areas=["4a"])[0]
    assert "mm" not in free and "{" not in free
    # an old bundle records no readout input: it loads and captions as before
    old = load_bundle(tiny_bundle, device="cpu")
    assert not old.uses_readout
    e = torch.randn(1, old.embed_dim)
    assert old.caption(e, 20, readout=thin) == old.caption(e, 20)


def test_describer_captions_from_the_rois_readout(readout_bundle, tmp_path, monkeypatch):
    """The describer measures the ROI first and the caption states the measured thickness."""
    from cytowords.describe import Describer
    from cytowords.regions import Roi
    from cytowords.sections import open_section, write_section
    from cytowords.synth import virtual_section
    from tests.describe.test_measured import ACROSS, PX, X0, Y0, H, W

    sec = virtual_section(
        203, pixel_size_um=PX, variation="classic"
    )  # fixed coordinates: classic geometry
    a, b0 = int(Y0 / PX), int(X0 / PX)
    img = np.asarray(sec.levels[0][a : a + int(H / PX), b0 : b0 + int(W / PX)])
    store = open_section(
        write_section(tmp_path / "s.ome.zarr", img, pixel_size_um=PX, chunk_px=256)
    )
    path, _, _ = readout_bundle
    d = Describer(path, device="cpu")
    ids = d.bundle.area_ids

    def classify(emb, views=None):  # every field reads as 4a, accepted: the caption path runs
        probs = torch.zeros((len(emb), len(ids)))
        probs[:, ids.index("4a")] = 1.0
        return probs, torch.zeros(len(emb)), torch.zeros(len(emb), dtype=torch.bool)

    monkeypatch.setattr(d.bundle, "classify", classify)
    y, x = ACROSS
    res = d.describe_roi(store, Roi.rectangle(y - 1500, x - 1500, y + 1500, x + 1500))
    t = res.measurements["thickness_mm"]["median"]
    assert not res.rejected and res.caption.startswith("Area 4a")
    assert f"about {t:.1f} mm" in res.caption, (t, res.caption)


def test_evaluation_captions_read_each_fields_readout(readout_bundle, monkeypatch):
    """run_model hands each captioned field its own readout row, to the free and the
    anchored caption (the headline and the sampler view caption with the fields'
    simulated readouts, :func:`caption_readouts`)."""
    from cytowords.training.evaluate.claims import caption_readouts
    from cytowords.training.evaluate.scoring import run_model
    from cytowords.training.evaluate.testset import PatchSet

    _, b, _ = readout_bundle
    seen = []
    caption = b.caption

    def spy(emb, *a, readout=None, **kw):
        seen.append(np.asarray(readout))
        return caption(emb, *a, readout=readout, **kw)

    monkeypatch.setattr(b, "caption", spy)
    rng = np.random.default_rng(0)
    n = 3
    ps = PatchSet(
        rng.integers(0, 255, (n, b.read_px, b.read_px), dtype=np.uint8),
        np.array(["4a", "4a", "44"]),
        np.array(["in_scope"] * n),
        np.array([200, 201, 200]),
        np.array(["tissue"] * n),
    )
    # rows from the truth of each field's brain and area, "missing" for the others
    truths, vectors, rows, scans = caption_readouts(
        b, ps.labels, ps.brain, np.array([0, 2]), seed=1
    )
    assert len(scans) == 2 and set(scans) <= set(SCANS)
    assert [t.area for t in truths] == ["4a", "44"]
    np.testing.assert_array_equal(rows[[0, 2]], vectors)
    assert not rows[1].any() and rows[0].any()
    res, _ = run_model(b, ps, np.array([0, 2]), max_new_tokens=20, readout=rows)
    assert res.captioned.tolist() == [True, False, True] and res.anchored[1] == ""
    assert len(seen) == 2  # free, then anchored: each with the captioned fields' rows
    for r in seen:
        np.testing.assert_array_equal(r, rows[[0, 2]])
    res, _ = run_model(b, ps, np.array([0, 2]), max_new_tokens=20, readout=rows, anchored=False)
    assert len(seen) == 3 and res.anchored == []
