"""Training presets: sizes of data, encoder, head, language model and training steps.

Synthetic brains (seeds of :class:`cytowords.synth.Brain`) are split by brain:

* train brains ``0..23`` (``default``; ``smoke`` uses 0-1),
* validation / calibration brains ``100, 101``,
* test brains ``200..204`` are reserved for evaluation and never used by training; seeds
  ``200..999`` are all kept for test brains (``cytowords evaluate --brains N``), training
  may render individuals from seed ``1000`` on.

Unseen areas of the atlas never appear in training or calibration data: virtual sections for
training are built from the in-scope areas only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cytowords.model.encoder import ARCHS, EncoderConfig

TRAIN_BRAINS = tuple(range(6))
VAL_BRAINS = (100, 101)
TEST_BRAINS = (200, 201, 202, 203, 204)
#: seeds ``TEST_BRAIN_START <= seed < TEST_BRAIN_END`` are test brains (``cytowords evaluate
#: --brains N`` takes 200, 201, ...); training never renders them
TEST_BRAIN_START = 200
TEST_BRAIN_END = 1000
PRETRAIN_OBJECTIVES = ("contrastive", "classification")


@dataclass(frozen=True)
class Preset:
    """All knobs of :func:`cytowords.training.pipeline.train` (see docs/training.md)."""

    name: str
    # model resolution and encoder
    pixel_size_um: float = 32.0
    patch_px: int = 64
    width: int = 32
    embed_dim: int = 256
    #: "field": the per-field encoder (statistics over the whole field); "dense": local
    #: normalisation and a translation-equivariant trunk, so whole sections are embedded
    #: in one pass (:mod:`cytowords.model.dense_encoder`); fields are then read with the
    #: encoder's context around them
    encoder_arch: str = "field"
    #: dense arch: dilation of each residual block (receptive field: 8 px per unit)
    encoder_dilations: tuple[int, ...] = (1, 2)
    #: a real CytoNet as TorchScript (``embed(B,1,H,W) -> (B, embed_dim)`` at
    #: ``pixel_size_um``/``patch_px``): skips pretraining and is used frozen as given
    encoder_torchscript: str | None = None
    # synthetic data (ignored with user data)
    train_brains: tuple[int, ...] = TRAIN_BRAINS
    val_brains: tuple[int, ...] = VAL_BRAINS
    section_size_um: tuple[float, float] = (60000.0, 80000.0)  # (height, width)
    # patch sampling
    n_per_area: int = 24
    n_per_area_val: int = 10
    none_share: float = 0.12
    min_purity: float = 0.6
    #: synthetic data only: extra patches rendered directly by the generator
    #: (``cytowords.synth.sample_patches``: random depth, angle, curvature, obliquity up to
    #: 30°, a neighbouring area's border in 30 % of fields), ``rendered_per_area`` per area
    #: and brain of ``rendered_brains`` (train) and ``rendered_per_area_val`` per area and
    #: validation brain (calibration sees the same kind of fields)
    rendered_brains: tuple[int, ...] = ()
    rendered_per_area: int = 0
    rendered_per_area_val: int = 0
    #: outlier exposure: fictitious areas (``cytowords.synth.novel``) rendered on the
    #: rendered brains and labelled ``__none__``; ``novel_per_area`` patches each.
    #: ``novel_areas`` are far from every training area, ``novel_near_areas`` are near
    #: misses (``novel_area(near=True)``: between or beside close training areas)
    novel_areas: int = 0
    novel_per_area: int = 2
    novel_near_areas: int = 0
    #: scale augmentation of the training fields (read from sections and rendered): each
    #: is read at the model's pixel size × s, s log-uniform in [exp(-j), exp(j)] (0.25:
    #: about ×0.78 to ×1.28), as a scan with a mis-stated pixel size shows tissue;
    #: validation fields stay at the true scale. 0: off (every preset)
    scale_jitter: float = 0.0
    # stage b: encoder pretraining
    #: "contrastive" (see pretrain_positives) or "classification": supervised area
    #: classification (cross-entropy through a linear layer that is then discarded)
    pretrain_objective: str = "contrastive"
    pretrain_steps: int = 400
    #: patches per step of the classification objective
    pretrain_batch: int = 128
    pretrain_pairs: int = 32
    pos_radius_um: float = 1200.0
    #: "spatial": self-supervised (positives = patches within pos_radius_um on the same
    #: section); "label": supervised contrastive (positives = same area, any brain; each
    #: anchor's partner comes from another brain when possible)
    pretrain_positives: str = "label"
    temperature: float = 0.1
    pretrain_lr: float = 2e-3
    #: "fp32" or "bf16": the classification objective's forward pass under bfloat16
    #: autocast (about 1.4x the steps per second on CPUs with AVX512-BF16/AMX, as the
    #: development machine has; slower on CPUs without)
    pretrain_precision: str = "fp32"
    # stage c/d: head and open-set scorer
    head_hidden: int = 256
    head_steps: int = 1500
    head_lr: float = 3e-3
    scorer_mode: str = "mahalanobis+msp"
    #: share of in-scope validation patches the calibrated threshold rejects
    reject_share: float = 0.03
    #: calibrate on the validation patches read from sections only (what the describer
    #: reads), not on the rendered validation fields too
    calibrate_on_sections: bool = False
    #: test-time mirror/rotation views averaged per field by the bundle (1, 2, 4, 8;
    #: :mod:`cytowords.model.tta`); thresholds are calibrated for every count up to it
    tta_views: int = 1
    # stage: domain model (:mod:`cytowords.training.stages.domain`)
    #: tissue fields per training section (brain) the domain model is fitted on
    domain_fields: int = 500
    #: draws of the pixel-size check's windows per validation section for its cutoff
    domain_draws: int = 4
    # stage: scale head (:mod:`cytowords.training.stages.scale_head`)
    #: training brains (sections) the scale head is fitted on: the first ones
    scale_head_brains: int = 24
    #: cortex fields per training and validation section, each read at its own wrong scale
    scale_head_fields: int = 800
    #: draws of the pixel-size check's fields per validation section for the head's band
    scale_head_draws: int = 10
    # stage e: language model + captioner
    lm_path: str | None = None
    lm_vocab: int = 2000
    lm_layers: int = 4
    lm_dim: int = 256
    lm_heads: int = 4
    prefix_k: int = 4
    #: what the captioner reads: "embedding", "embedding+probs" or
    #: "embedding+probs+readout" (also the region's readout vector; captions then follow
    #: the tissue: docs/captions.md)
    caption_input: str = "embedding+probs"
    #: what trains with the projector: "full" (the whole LM), "lora" (LoRA adapters, needs
    #: peft) or "projector" (LM frozen); see docs/model.md for how each is bundled
    caption_mode: str = "full"
    caption_steps: int = 400
    caption_batch: int = 32
    caption_lr: float = 2e-3
    # evaluation on validation brains
    eval_captions_per_area: int = 6
    threads: int = 2
    #: processes rendering the generator's fields (one brain each at a time; the same
    #: fields whatever the count; each process imports the package, seconds, so only
    #: worth it for many brains)
    render_workers: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from cytowords.model.caption_input import check_caption_input

        try:
            check_caption_input(self.caption_input)
        except ValueError as err:
            raise ValueError(f"preset {self.name!r}: {err}") from None
        if self.encoder_arch not in ARCHS:
            raise ValueError(
                f"preset {self.name!r}: encoder_arch {self.encoder_arch!r}; expected one of "
                f"{', '.join(ARCHS)}"
            )
        try:
            self.encoder_config()
        except ValueError as exc:
            raise ValueError(f"preset {self.name!r}: {exc}") from None
        if self.pretrain_objective not in PRETRAIN_OBJECTIVES:
            raise ValueError(
                f"preset {self.name!r}: pretrain_objective {self.pretrain_objective!r}; "
                f"expected one of {', '.join(PRETRAIN_OBJECTIVES)}"
            )
        held = sorted(
            b
            for b in self.rendered_brains
            if b in self.val_brains or TEST_BRAIN_START <= b < TEST_BRAIN_END
        )
        if held:
            raise ValueError(
                f"preset {self.name!r}: rendered_brains {held} are validation or test brains "
                f"(validation {list(self.val_brains)}, test seeds {TEST_BRAIN_START}.."
                f"{TEST_BRAIN_END - 1}); "
                "training may only render training brains"
            )
        if self.pretrain_precision not in ("fp32", "bf16"):
            raise ValueError(
                f"preset {self.name!r}: pretrain_precision {self.pretrain_precision!r}; "
                "expected 'fp32' or 'bf16'"
            )
        if self.pretrain_precision == "bf16" and self.pretrain_objective != "classification":
            raise ValueError(
                f"preset {self.name!r}: pretrain_precision 'bf16' is implemented for the "
                "classification objective only"
            )
        if self.domain_fields < 1 or self.domain_draws < 1:
            raise ValueError(
                f"preset {self.name!r}: domain_fields {self.domain_fields} and domain_draws "
                f"{self.domain_draws} must be at least 1"
            )
        if min(self.scale_head_brains, self.scale_head_fields, self.scale_head_draws) < 1:
            raise ValueError(
                f"preset {self.name!r}: scale_head_brains {self.scale_head_brains}, "
                f"scale_head_fields {self.scale_head_fields} and scale_head_draws "
                f"{self.scale_head_draws} must be at least 1"
            )
        if self.tta_views not in (1, 2, 4, 8):
            raise ValueError(
                f"preset {self.name!r}: tta_views {self.tta_views!r}; expected 1, 2, 4 or 8"
            )
        if (self.novel_areas or self.novel_near_areas) and not self.rendered_brains:
            raise ValueError(
                f"preset {self.name!r}: novel_areas needs rendered_brains to render them on"
            )

    def encoder_config(self) -> EncoderConfig:
        """The built-in encoder this preset trains."""
        return EncoderConfig(
            pixel_size_um=self.pixel_size_um,
            patch_px=self.patch_px,
            width=self.width,
            embed_dim=self.embed_dim,
            arch=self.encoder_arch,
            dilations=tuple(self.encoder_dilations),
        )

    @property
    def read_px(self) -> int:
        """Side (px) of a training field as read: ``patch_px`` plus the encoder's context
        on each side (dense arch; a TorchScript encoder takes ``patch_px``)."""
        if self.encoder_torchscript:
            return self.patch_px
        return self.encoder_config().input_px

    def to_dict(self) -> dict[str, Any]:
        """The preset as a JSON-able dict; the encoder-architecture keys only for a dense
        encoder, so run folders started before the architecture switch still resume."""
        d = asdict(self)
        # how many processes render changes no field: a run may resume with another count
        d.pop("render_workers")
        # the domain and scale-head stages' keys only when changed, so run folders started
        # before the stages existed still resume (they then run them)
        for k in (
            "domain_fields",
            "domain_draws",
            "scale_head_brains",
            "scale_head_fields",
            "scale_head_draws",
        ):
            if d[k] == getattr(Preset, k):
                d.pop(k)
        if self.encoder_arch == "field":
            d.pop("encoder_arch")
            d.pop("encoder_dilations")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preset:
        """The preset :meth:`to_dict` wrote (e.g. a run folder's ``run.json`` ``preset``;
        JSON lists become tuples again)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def with_(self, **kw: Any) -> Preset:
        return replace(self, **kw)


PRESETS: dict[str, Preset] = {
    # tiny: a few areas, two small brains, seconds per stage (tests)
    "smoke": Preset(
        name="smoke",
        patch_px=32,
        pixel_size_um=64.0,
        width=8,
        embed_dim=32,
        train_brains=(0, 1),
        val_brains=(100,),
        section_size_um=(30000.0, 40000.0),
        n_per_area=6,
        n_per_area_val=3,
        min_purity=0.0,
        rendered_brains=(0, 1),
        rendered_per_area=2,
        rendered_per_area_val=2,
        novel_areas=8,
        pretrain_objective="classification",
        pretrain_steps=30,
        pretrain_pairs=16,
        pretrain_batch=32,
        head_hidden=0,
        head_steps=100,
        lm_vocab=400,
        lm_layers=1,
        lm_dim=64,
        lm_heads=2,
        prefix_k=2,
        caption_steps=40,
        caption_batch=16,
        eval_captions_per_area=1,
        tta_views=2,
        domain_fields=60,
        domain_draws=1,
        scale_head_fields=60,
        # one validation brain: 4 draws, so that the band is not a single value
        scale_head_draws=4,
        extra={"areas": ["hOc1", "hOc2", "4a", "4p", "44", "45", "FG1", "3b"]},
    ),
    # the bundled model: about 90 min on 2 CPU cores including data generation
    "default": Preset(
        name="default",
        pixel_size_um=64.0,
        train_brains=tuple(range(24)),
        n_per_area=48,
        # fields from 398 individuals: every seed below the test brains except the
        # validation brains 100 and 101, and 1000-1199 (twice 198 individuals raised test
        # classification from 0.926 to 0.934 and validation from 0.943 to 0.944)
        rendered_brains=tuple(range(100)) + tuple(range(102, 200)) + tuple(range(1000, 1200)),
        rendered_per_area=10,
        rendered_per_area_val=10,
        # about 48 fictitious areas per individual, the share chosen on 198 brains (9600)
        novel_areas=19200,
        novel_per_area=2,
        # chosen on validation proxies (fictitious areas on the validation brains):
        # benchmarks/open_set_scorers.py (near-miss proxy AUROC 0.93 vs 0.87 for
        # `energy`, the next best score)
        scorer_mode="none_odds",
        # on the validation brains, section patches score as less familiar than rendered
        # fields (4.7 % vs 1.3 % rejected at a joint 3 % threshold)
        calibrate_on_sections=True,
        # embeddings averaged over the 8 mirror/rotation views of each field
        # (benchmarks/tta_views.py: more accurate and better open-set scores than 1 view)
        tta_views=8,
        pretrain_objective="classification",
        # bfloat16 autocast (1.4x the steps/s of float32 on this CPU); 45 000 steps:
        # training loss 0.98 against 1.02 after 30 000, validation classification 0.943
        # against 0.933
        pretrain_precision="bf16",
        pretrain_steps=45000,
        caption_steps=2000,
        render_workers=2,
    ),
    # GPU: wider encoder, more data and steps (not run on the development machine)
    "gpu-large": Preset(
        name="gpu-large",
        pixel_size_um=16.0,
        patch_px=128,
        width=64,
        embed_dim=512,
        train_brains=tuple(range(32)),
        n_per_area=64,
        n_per_area_val=20,
        pretrain_steps=20000,
        pretrain_pairs=128,
        head_steps=4000,
        lm_layers=8,
        lm_dim=512,
        lm_heads=8,
        prefix_k=8,
        caption_steps=20000,
        caption_batch=128,
        eval_captions_per_area=20,
        threads=8,
    ),
    # a large Hugging Face causal LM given by path (--lm), frozen (optional LoRA), on a GPU
    "llm": Preset(
        name="llm",
        pixel_size_um=16.0,
        patch_px=128,
        width=64,
        embed_dim=512,
        train_brains=tuple(range(32)),
        n_per_area=64,
        n_per_area_val=20,
        pretrain_steps=20000,
        pretrain_pairs=128,
        head_steps=4000,
        prefix_k=8,
        caption_mode="projector",
        caption_steps=6000,
        caption_batch=32,
        caption_lr=1e-3,
        eval_captions_per_area=10,
        threads=8,
    ),
}
#: a CPU-sized run with your own (small) LM: the smoke preset's data and vision stages, the
#: LM frozen by default; with ``--from BUNDLE --only captioner`` only the captioner trains,
#: on synthetic sections of two small brains read at the base bundle's resolution
PRESETS["llm-cpu"] = PRESETS["smoke"].with_(
    name="llm-cpu",
    rendered_brains=(),
    rendered_per_area=0,
    rendered_per_area_val=0,
    novel_areas=0,
    n_per_area=8,
    n_per_area_val=2,
    caption_mode="projector",
    caption_steps=150,
    caption_batch=16,
    caption_lr=2e-3,
)


#: the dense encoder (a whole section's fields in one pass: fast area maps) on the realistic
#: generator, sized to train on 2 CPU cores without bfloat16 instructions in about two
#: hours (encoder about 1.4 steps/s in float32; rendering in two processes)
PRESETS["dense-cpu"] = PRESETS["default"].with_(
    name="dense-cpu",
    encoder_arch="dense",
    encoder_dilations=(1,),
    pretrain_precision="fp32",
    pretrain_steps=5000,
    rendered_brains=tuple(range(80)),
    novel_areas=3840,
    caption_input="embedding+probs+readout",
    caption_steps=800,
)


def get_preset(name: str | Preset) -> Preset:
    """A preset by name (``smoke``, ``default``, ``dense-cpu``, ``gpu-large``, ``llm``,
    ``llm-cpu``) or as given."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown training preset {name!r}; expected one of {', '.join(PRESETS)}"
        ) from None
