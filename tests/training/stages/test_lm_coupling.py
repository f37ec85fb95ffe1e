"""A user's own language model coupled to a bundle: frozen (projector), LoRA, fully
trained; re-pointed at load time; checked up front; ``--from BUNDLE --only captioner``.

The LMs are a tiny GPT-2 and a tiny Llama saved with ``save_pretrained``, each with its
own byte-level BPE tokenizer trained with ``tokenizers`` (no pad token, as GPT-2's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from cytowords.cli import main
from cytowords.model import BundleError, load_bundle
from cytowords.model.bundle import lm as lm_module
from cytowords.model.bundle.files import write_hashes
from cytowords.model.bundle.handle import clear_cache
from cytowords.model.bundle.lm import (
    LM_PATH_ENV,
    LMFolderError,
    check_caption_mode,
    load_hf_lm,
)
from cytowords.model.domain import DOMAIN_FILE, DomainModel, fit_domain
from cytowords.model.scale_head import SCALE_HEAD_FILE, ScaleHead
from cytowords.regions import Roi
from cytowords.training.data.spec import LabelledSection
from cytowords.training.pipeline import train
from cytowords.training.presets import Preset
from tests.support.tiny_lms import tiny_lm
from tests.support.training_sections import PX, in_memory_section, persisted_section

pytest.importorskip("peft")

SENTENCES = [
    "Area hOc1 is the primary visual cortex with a broad granular layer.",
    "Area 4a is agranular motor cortex with giant pyramidal cells in layer V.",
    "Area 44 lies in the inferior frontal gyrus and is dysgranular.",
    "White matter, background or an artefact: not a cortical area.",
]
PRESET = Preset(
    name="lm-test",
    n_per_area=4,
    n_per_area_val=2,
    none_share=0.3,
    prefix_k=2,
    caption_steps=6,
    caption_batch=8,
    caption_lr=5e-3,
    eval_captions_per_area=1,
    threads=1,
)


def _tokenizer(specials: dict[str, str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=specials.get("unk_token")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=sorted(set(specials.values())),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **specials)


def _save_lm(folder: Path, kind: str) -> Path:
    if kind == "gpt2":
        end = "<|endoftext|>"
        tok = _tokenizer({"bos_token": end, "eos_token": end, "unk_token": end})
    else:
        tok = _tokenizer({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})
    tiny_lm(kind, tok, dim=32, layers=1).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def lms(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lms")
    return {k: _save_lm(root / k, k) for k in ("gpt2", "llama")}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A complete base bundle at the sections' resolution, with 2 views, a threshold per
    view count, non-cortex levels and a cortex detector."""
    from tests.support.tiny_bundle import make_tiny_bundle

    return make_tiny_bundle(
        tmp_path_factory.mktemp("base") / "bundle",
        views=2,
        thresholds={1: 0.25, 2: 0.5},
        noncortex={1: 3.0, 2: 3.5},
        cortex_logit=2.0,
        pixel_size_um=PX,
    )


def _sections() -> list[LabelledSection]:
    out = []
    for brain, split in ((0, "train"), (1, "val")):
        sec = in_memory_section(brain)
        out.append(LabelledSection(sec, f"B{brain}", split, sec.labels["areas"]))
    return out


def _couple(tmp: Path, base: Path, lm: Path, mode: str) -> Path:
    """Train only the captioner of ``base`` on ``lm`` in ``mode``; the run folder."""
    out = tmp / f"run-{mode}"
    p = PRESET.with_(lm_path=str(lm), caption_mode=mode)
    train(p, out, data=_sections(), base_bundle=base, only="captioner", device="cpu")
    return out


def _describe(bundle: Path, **kw) -> str:
    from cytowords.describe import Describer
    from cytowords.regions import Roi

    d = Describer(bundle, device="cpu")
    res = d.describe_roi(in_memory_section(2), Roi.rectangle(2000, 2000, 9000, 9000))
    assert isinstance(res.caption, str) and res.caption
    return res.caption


def _folder_tensors(lm: Path) -> dict[str, torch.Tensor]:
    return load_file(str(lm / "model.safetensors"))


def _trained(run: Path) -> dict[str, torch.Tensor]:
    """The LM tensors the captioner fit ended with (its final checkpoint)."""
    t = load_file(str(run / "captioner" / "checkpoint" / "tensors.safetensors"))
    return {k[3:]: v for k, v in t.items() if k.startswith("lm.")}


def test_gpt2_frozen_bundle_references_the_folder_and_keeps_the_base(tmp_path, base, lms, capsys):
    run = _couple(tmp_path, base, lms["gpt2"], "projector")
    bundle = run / "bundle"
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["lm"]["kind"] == "path" and cfg["lm"]["path"] == str(lms["gpt2"].resolve())
    assert not (bundle / "lm").exists() and not _trained(run)  # nothing of the LM trained
    # everything but the captioner is the base bundle's
    bcfg = json.loads((base / "config.json").read_text())
    for key in ("tta", "cortex", "area_ids", "encoder", "head", "scorer", "atlas_version"):
        assert cfg[key] == bcfg[key], key
    new, old = (
        load_file(str(bundle / "weights.safetensors")),
        load_file(str(base / "weights.safetensors")),
    )
    # (scorer.threshold holds the active view count's threshold, set from tta on load)
    vision = [k for k in old if not k.startswith("projector.") and k != "scorer.threshold"]
    assert vision and [k for k in vision if not torch.equal(new[k], old[k])] == []
    b = load_bundle(bundle)
    assert b.views == 2 and b.thresholds == {1: 0.25, 2: 0.5}
    # the base has no domain model: the domain stage fitted one on its vision parts
    assert json.loads((run / "run.json").read_text())["done"]["domain"]
    assert b.domain is not None and np.isfinite(b.domain.cutoff)
    _same_domain(bundle / DOMAIN_FILE, run / "domain" / DOMAIN_FILE)
    assert b.noncortex_levels == {1: 3.0, 2: 3.5} and b.cortex is not None
    w = b.captioner.lm.state_dict()["transformer.h.0.attn.c_attn.weight"]
    assert torch.equal(w, _folder_tensors(lms["gpt2"])["transformer.h.0.attn.c_attn.weight"])
    assert b.captioner.tokenizer.pad_token == "<|endoftext|>"  # set from eos, as trained
    caption = _describe(bundle)

    # moved to another place: refused with where to point it, then re-pointed
    moved = tmp_path / "elsewhere" / "gpt2"
    shutil.copytree(lms["gpt2"], moved)
    shutil.move(str(lms["gpt2"]), str(tmp_path / "gone"))
    try:
        with pytest.raises(BundleError, match=r"folder .*gpt2 is missing; point the bundle") as e:
            load_bundle(bundle)
        assert str(e.value).count(str(bundle)) == 1
        # area maps need no language model: they load the bundle without it
        from cytowords.mapping.infer import ModelRef, get_model

        clear_cache()  # (a cached bundle with its LM would serve the map as well)
        vision, _ = get_model(ModelRef(str(bundle), "cpu"))
        assert vision.captioner is None and vision.area_ids == b.area_ids
        assert load_bundle(bundle, lm_path=moved).caption(b.embed(np.zeros((1, 32, 32)))) != []
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(LM_PATH_ENV, str(moved))
            assert _describe(bundle) == caption
        with pytest.MonkeyPatch.context() as mp:  # the CLI's --lm (restored afterwards)
            mp.setenv(LM_PATH_ENV, "")  # empty: not set; recorded so main's value is undone
            clear_cache()  # a CLI run is a fresh process: nothing is loaded yet
            zarr = persisted_section(tmp_path, 2)
            argv = ["describe", str(zarr), "--roi", "2000,2000,9000,9000", "--model", str(bundle)]
            assert main([*argv, "--device", "cpu", "--json"]) == 2
            assert "point the bundle at" in capsys.readouterr().err
            assert main([*argv, "--device", "cpu", "--json", "--lm", str(moved)]) == 0
            assert json.loads(capsys.readouterr().out)["caption"] == caption
            # the model handle takes the folder too (the widgets' "Language model" row)
            from cytowords.describe import Describer

            d = Describer(str(bundle), "cpu", lm_path=str(moved))
            assert d.bundle is Describer(str(bundle), "cpu", lm_path=moved).bundle  # cached
            res = d.describe_roi(in_memory_section(2), Roi.rectangle(2000, 2000, 9000, 9000))
            assert res.caption == caption
        # a changed LM (same file sizes, one weight changed) is refused
        t = _folder_tensors(moved)
        t["transformer.h.0.attn.c_attn.weight"][0, 0] += 0.5
        save_file(t, str(moved / "model.safetensors"), metadata={"format": "pt"})
        with pytest.raises(BundleError, match=r"differs from the one .*model\.safetensors"):
            load_bundle(bundle, lm_path=moved)
    finally:
        shutil.move(str(tmp_path / "gone"), str(lms["gpt2"]))


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_lora_adapter_is_saved_in_the_bundle_and_loaded_onto_the_base(tmp_path, base, lms, kind):
    run = _couple(tmp_path, base, lms[kind], "lora")
    bundle = run / "bundle"
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["lm"]["kind"] == "lora" and not (bundle / "lm").exists()
    assert (bundle / "lm_adapter" / "adapter_model.safetensors").is_file()
    b = load_bundle(bundle)
    loaded = b.captioner.lm.state_dict()
    trained = _trained(run)
    lora_b = [k for k in trained if "lora_B" in k]
    assert lora_b and all(float(trained[k].abs().max()) > 0 for k in lora_b)  # B starts at 0
    for k in lora_b:
        assert torch.equal(loaded[k], trained[k]), k
    base_w = _folder_tensors(lms[kind])
    name = next(k for k in base_w if k.endswith(("c_attn.weight", "q_proj.weight")))
    assert torch.equal(
        loaded["base_model.model." + name.replace(".weight", ".base_layer.weight")], base_w[name]
    )
    _describe(bundle)


def test_a_lora_adapter_of_pickled_weights_is_refused_in_one_line(tmp_path, base, lms):
    """The adapter is read as safetensors only, from the bundle (``local_files_only``):
    an adapter folder holding peft's pickled ``adapter_model.bin`` instead, hash-listed,
    is refused naming the file it lacks (peft would have unpickled the .bin)."""
    bundle = _couple(tmp_path, base, lms["gpt2"], "lora") / "bundle"
    adapter = bundle / "lm_adapter"
    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_model.safetensors").unlink()
    torch.save(tensors, adapter / "adapter_model.bin")
    write_hashes(bundle)
    clear_cache()
    with pytest.raises(BundleError, match="lm_adapter/ holds no adapter_model.safetensors"):
        load_bundle(bundle)


def test_gpt2_fully_trained_lm_is_embedded_as_trained(tmp_path, base, lms):
    run = _couple(tmp_path, base, lms["gpt2"], "full")
    bundle = run / "bundle"
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["lm"]["kind"] == "embedded" and cfg["lm"]["trained_from"] == str(
        lms["gpt2"].resolve()
    )
    assert (bundle / "lm" / "model.safetensors").is_file()
    assert (bundle / "lm" / "tokenizer.json").is_file()
    b = load_bundle(bundle)
    loaded = b.captioner.lm.state_dict()
    trained, base_w = _trained(run), _folder_tensors(lms["gpt2"])
    name = "transformer.h.0.attn.c_attn.weight"
    # stored as float16: exactly the trained weights rounded, and not the base weights
    assert torch.equal(loaded[name], trained[name].half().float())
    assert float((trained[name] - base_w[name]).abs().max()) > 1e-3
    assert not torch.allclose(loaded[name], base_w[name], atol=1e-3)
    _describe(bundle)


def test_lm_folder_is_checked_before_any_training(tmp_path, base, lms, monkeypatch):
    no_tok = tmp_path / "no-tokenizer"
    no_tok.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(lms["llama"] / f, no_tok / f)
    out = tmp_path / "run"
    p = PRESET.with_(lm_path=str(no_tok), caption_mode="projector")
    with pytest.raises(LMFolderError, match=rf"folder {no_tok}: no tokenizer \(tokenizer.json"):
        train(p, out, data=_sections(), base_bundle=base, only="captioner", device="cpu")
    assert not out.exists()
    (no_tok / "model.safetensors").unlink()
    with pytest.raises(LMFolderError, match=r"no \*\.safetensors weight files"):
        check_caption_mode("full", no_tok, torch.device("cpu"))
    with pytest.raises(ValueError, match="caption mode 'half'"):
        check_caption_mode("half", lms["gpt2"], torch.device("cpu"))
    # an LM too large to train fully on a CPU: a warning, measured on the meta device
    big = tmp_path / "big"
    shutil.copytree(lms["llama"], big)
    conf = json.loads((big / "config.json").read_text())
    conf.update(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32)
    (big / "config.json").write_text(json.dumps(conf))
    # (its config no longer fits the tiny weights, which is refused after the warning)
    with pytest.warns(UserWarning, match=r"trains all \d+\.\d B parameters .* on the CPU"):
        with pytest.raises(LMFolderError, match="config and the weights do not belong"):
            check_caption_mode("full", big, torch.device("cpu"))
    # a folder whose weights fit, above the limit: the warning, and the mode is accepted
    monkeypatch.setattr(lm_module, "LARGE_LM_PARAMS", 1000)
    with pytest.warns(UserWarning, match=r"trains all 0\.0 B parameters .* on the CPU"):
        assert check_caption_mode("full", lms["llama"], torch.device("cpu")) == "full"


def test_cli_checks_the_lm_and_the_caption_mode_before_training(tmp_path, lms, capsys):
    no_tok = tmp_path / "no-tokenizer"
    no_tok.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(lms["gpt2"] / f, no_tok / f)
    out = tmp_path / "run"
    argv = ["train", "--preset", "llm-cpu", "--out", str(out), "--quiet", "--device", "cpu"]
    assert main([*argv, "--lm", str(no_tok)]) == 2
    err = capsys.readouterr().err
    assert f"language model folder {no_tok.resolve()}: no tokenizer" in err
    assert err.count("\n") == 1 and not out.exists()
    assert main(argv) == 2
    assert "--preset llm-cpu needs --lm PATH" in capsys.readouterr().err
    assert main([*argv, "--lm", str(lms["gpt2"]), "--from", "default"]) == 2
    assert "--from BUNDLE and --only captioner go together" in capsys.readouterr().err


def test_remote_code_and_truncated_weights_are_refused_in_one_line(tmp_path, lms, capsys):
    """A folder whose config asks for its own model code, and one whose safetensors file
    was cut short, are refused before any work, in one line naming the folder."""
    remote = tmp_path / "remote"
    shutil.copytree(lms["gpt2"], remote)
    conf = json.loads((remote / "config.json").read_text())
    conf.update(model_type="mymodel", auto_map={"AutoModelForCausalLM": "modeling_my.MyLM"})
    (remote / "config.json").write_text(json.dumps(conf))
    (remote / "modeling_my.py").write_text("raise SystemExit('remote code ran')\n")
    cut = tmp_path / "cut"
    shutil.copytree(lms["gpt2"], cut)
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
    out = tmp_path / "run"
    argv = ["train", "--preset", "llm-cpu", "--out", str(out), "--quiet", "--device", "cpu"]
    assert main([*argv, "--lm", str(remote)]) == 2
    err = capsys.readouterr().err
    assert f"language model folder {remote.resolve()}: config.json asks for the folder's own" in err
    assert "never runs" in err and err.count("\n") == 1
    assert main([*argv, "--lm", str(cut)]) == 2
    err = capsys.readouterr().err
    assert f"language model folder {cut.resolve()}: model.safetensors cannot be read" in err
    assert err.count("\n") == 1 and not out.exists()
    with pytest.raises(LMFolderError, match="model_type 'mymodel' in config.json is not one"):
        conf.pop("auto_map")
        (remote / "config.json").write_text(json.dumps(conf))
        check_caption_mode("projector", remote, torch.device("cpu"))


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path, lms):
    """A config asking for wider layers, or for more layers than the weights hold, is
    refused before training (shapes read from the safetensors headers) and when loading
    (never filled with random numbers)."""
    wide = tmp_path / "wide"
    shutil.copytree(lms["llama"], wide)
    conf = json.loads((wide / "config.json").read_text())
    conf["intermediate_size"] += 16
    (wide / "config.json").write_text(json.dumps(conf))
    deep = tmp_path / "deep"
    shutil.copytree(lms["llama"], deep)
    conf = json.loads((deep / "config.json").read_text())
    conf["num_hidden_layers"] += 1
    (deep / "config.json").write_text(json.dumps(conf))
    cpu = torch.device("cpu")
    with pytest.raises(LMFolderError, match=r"mlp.down_proj.weight is \[\d+, \d+\] in model"):
        check_caption_mode("projector", wide, cpu)
    with pytest.raises(LMFolderError, match=r"asks for \d+ tensor\(s\) that the \*.safetensors"):
        check_caption_mode("projector", deep, cpu)
    with pytest.raises(LMFolderError, match=f"folder {wide}: the weights could not be loaded"):
        load_hf_lm(wide, cpu)
    with pytest.raises(LMFolderError, match=f"folder {deep}: the weights lack \\d+ tensor"):
        load_hf_lm(deep, cpu)
    assert check_caption_mode("projector", lms["gpt2"], cpu) == "projector"
    assert load_hf_lm(lms["gpt2"], cpu)[0].config.model_type == "gpt2"


def _same_domain(a: Path, b: Path) -> None:
    """The two domain model files hold the same means, whitening, cutoff and info."""
    x, y = DomainModel.load(a), DomainModel.load(b)
    assert torch.equal(x.means, y.means) and torch.equal(x.whiten, y.whiten)
    assert x.cutoff == y.cutoff and x.info == y.info


def test_a_base_bundles_domain_model_and_scale_head_are_kept(tmp_path, base, lms):
    """``--from BUNDLE --only captioner`` keeps the base bundle's domain model and scale
    head as they are."""
    with_domain = tmp_path / "base"
    shutil.copytree(base, with_domain)
    dim = load_bundle(base, captioner=False).embed_dim
    rng = np.random.default_rng(0)
    emb, groups = rng.normal(size=(40, dim)), np.repeat([0, 1], 20)
    fit_domain(emb, groups).with_cutoff(3.5).save(with_domain / DOMAIN_FILE)
    head = ScaleHead(torch.linspace(-1, 1, dim), 0.1, (-0.05, 0.07), {"ridge": 1.0})
    head.save(with_domain / SCALE_HEAD_FILE)
    write_hashes(with_domain)
    run = _couple(tmp_path, with_domain, lms["gpt2"], "projector")
    kept = load_bundle(run / "bundle", captioner=False).scale_head
    assert kept is not None and kept.band == head.band and kept.info == head.info
    np.testing.assert_array_equal(kept.weight, head.weight)
    cfg = json.loads((run / "bundle" / "config.json").read_text())
    assert cfg["scale_head"] == {"ridge": 1.0}
    _same_domain(run / "bundle" / DOMAIN_FILE, with_domain / DOMAIN_FILE)
    assert not (run / "domain").exists() and not (run / "scale_head").exists()  # no fit
    done = json.loads((run / "run.json").read_text())["done"]
    assert done["domain"] and done["scale_head"]
    assert load_bundle(run / "bundle", captioner=False).domain.cutoff == 3.5
