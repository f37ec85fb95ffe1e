"""The loaded model bundle: embed patches, classify with open-set rejection, caption."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cytowords.atlas import NONE_ID
from cytowords.model.caption_input import (
    caption_inputs,
    fill_all,
    readout_tensor,
    shown_caption,
    special_rows,
    uses_readout,
    wm_border_rows,
)
from cytowords.model.encoder import CytoEncoder
from cytowords.model.tta import (
    check_views,
    embed_views,
    noncortex_table,
    resolve_views,
    view_table,
)


def to_unit_float(patches: np.ndarray) -> np.ndarray:
    """Fields as read by :func:`cytowords.sections.read_fields` (float in [0, 1], or its
    ``uint8`` form) -> float32 in [0, 1]; floats are clipped. Other integer types are
    refused: their range is the section's (12-bit data in uint16...), not the dtype's."""
    if patches.dtype == np.uint8:
        return patches.astype(np.float32) / 255.0
    if np.issubdtype(patches.dtype, np.floating):
        return np.clip(patches.astype(np.float32), 0.0, 1.0)
    raise ValueError(
        f"patches dtype {patches.dtype} unsupported; expected uint8 or float in [0, 1] "
        "(read fields with cytowords.sections.read_fields, which scales by the section's range)"
    )


def caption_prompt(area: str | None) -> str | None:
    """The text a caption anchored on ``area`` starts with (None for no/none area)."""
    if not area or area == NONE_ID:
        return None
    return f"Area {area}"


@dataclass(frozen=True)
class FieldPredictions:
    """What the model says of each field (:meth:`ModelBundle.predict`), numpy arrays of
    length B.

    probs ``(B, n_areas)``: a distribution over the known areas; ood_score: the open-set
    score (higher: less like known cortex); rejected: not a known area (score above the
    threshold calibrated for the views used, the none class most probable, or the cortex
    detector sees no cortex); votes: the field may vote on a drawn region (its score stays
    below the bundle's non-cortex level: white matter, background and artefacts abstain;
    where the level sits at the rejection threshold the cortex detector decides; all True
    when neither a level with a band nor a detector is there);
    cortex: the field shows cortex of any area, known or not (the cortex detector, else the
    non-cortex level; None when the bundle has neither), which tells a rejected field's
    "not a known area" from "no cortex" in maps; domain: each field's domain distance
    (:mod:`cytowords.model.domain`: how far its embedding lies from the training fields'),
    None when the bundle has no domain model."""

    probs: np.ndarray
    ood_score: np.ndarray
    rejected: np.ndarray
    votes: np.ndarray
    cortex: np.ndarray | None
    domain: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ood_score)

    @property
    def area_index(self) -> np.ndarray:
        """Index of the most probable known area per field."""
        return self.probs.argmax(axis=1)

    @property
    def probability(self) -> np.ndarray:
        """Probability of the most probable known area per field."""
        return self.probs.max(axis=1)


class ModelBundle:
    """Inference object returned by :func:`cytowords.model.load_bundle`.

    Attributes: ``encoder`` (protocol ``embed``), ``head``, ``scorer``, ``captioner``
    (None if the bundle has no language model), ``config`` (the config.json dict),
    ``device``, ``area_ids`` (head index order, without ``__none__``),
    ``pixel_size_um`` and ``patch_px`` (the field the encoder describes), ``read_px``
    (the side of what to read per field: ``patch_px`` plus the encoder's context on
    each side, :attr:`read_px`), ``threshold``,
    ``rejection_caption``, ``views`` (test-time mirror/rotation views averaged per field,
    :mod:`cytowords.model.tta`; the bundle's calibrated default, changed with
    :meth:`set_views`). All methods run under ``torch.inference_mode`` and return CPU
    tensors."""

    def __init__(
        self,
        encoder: Any,
        head: Any,
        scorer: Any,
        captioner: Any,
        config: dict[str, Any],
        device: torch.device,
        cortex: Any = None,
        domain: Any = None,
        scale_head: Any = None,
    ) -> None:
        self.config = config
        #: the scale head (:class:`cytowords.model.scale_head.ScaleHead`), None for bundles
        #: without one
        self.scale_head = scale_head
        #: the domain model (:class:`cytowords.model.domain.DomainModel`), None for bundles
        #: without one
        self.domain = domain
        self.device = device
        self.encoder = encoder.to(device).eval()
        self.head = head.to(device).eval()
        self.scorer = scorer.to(device).eval()
        self.captioner = captioner.eval() if captioner is not None else None
        #: the cortex detector (:mod:`cytowords.model.cortex`), None for bundles without
        self.cortex = cortex.to(device).eval() if cortex is not None else None
        if self.captioner is not None:
            self.captioner.projector.to(device)
        self.area_ids: list[str] = list(config["area_ids"])
        self.none_class: bool = bool(config["none_class"]["enabled"])
        self.rejection_caption: str = config.get("rejection_caption", "")
        self.pixel_size_um = float(self.encoder.pixel_size_um)
        self.patch_px = int(self.encoder.patch_px)
        #: side (px) of a field as read for the encoder: ``patch_px`` plus the encoder's
        #: context (``context_px``, dense architecture) on each side; read fields with
        #: ``read_fields(section, centres, pixel_size_um, read_px)``
        self.read_px = int(getattr(self.encoder, "input_px", self.patch_px))
        self.embed_dim = int(self.encoder.embed_dim)
        default, table = view_table(config)
        #: calibrated open-set threshold per view count (bundles without test-time views
        #: have one, for 1 view)
        self.thresholds: dict[int, float] = table
        #: open-set score per view count from which a field reads as non-cortex (empty
        #: for bundles without it; :meth:`noncortex_level`)
        self.noncortex_levels: dict[int, float] = noncortex_table(config)
        self.views = 1
        self.set_views(default)

    @property
    def threshold(self) -> float:
        return float(self.scorer.threshold)

    def set_views(self, views: int) -> None:
        """Make ``views`` (1, 2, 4 or 8 mirror/rotation views per field) the default of
        :meth:`embed` and :meth:`classify`; ``ValueError`` when the bundle has no open-set
        threshold calibrated for that count."""
        self.views = resolve_views(self.thresholds, self.views, views)
        self.scorer.threshold.fill_(self.thresholds[self.views])

    def threshold_for(self, views: int | None = None) -> float:
        """The open-set threshold calibrated for ``views`` per field (None: :attr:`views`)."""
        return self.thresholds[resolve_views(self.thresholds, self.views, views)]

    def noncortex_level(self, views: int | None = None) -> float | None:
        """The open-set score at and above which a field of ``views`` views (None:
        :attr:`views`) reads as no cortex at all: the level that 95 % of the validation
        brains' non-cortex fields (white matter, background, artefacts) reach, never below
        the rejection threshold. None when the bundle has no such level."""
        return self.noncortex_levels.get(resolve_views(self.thresholds, self.views, views))

    @torch.inference_mode()
    def cortex_probability(self, emb: Tensor) -> Tensor | None:
        """Probability ``(B,)`` that each field shows cortex of any area, known or not
        (not only white matter, background or artefacts), from embeddings ``(B, D)``;
        None when the bundle has no cortex detector."""
        if self.cortex is None:
            return None
        return self.cortex.probability(emb.to(self.device)).cpu()

    def channels_last(self) -> None:
        """On the CPU, store the built-in encoder's weights channels-last, so that its
        convolutions run in oneDNN's faster layout (the describe benchmark's fields: 10-16 %
        less CPU; whole-section maps alike; embeddings change by about 1e-6). The
        process's shared bundles (:func:`~cytowords.model.get_bundle`) do; a private copy
        (:func:`~cytowords.model.load_bundle`, which training changes) keeps its layout."""
        if self.device.type == "cpu" and isinstance(self.encoder, CytoEncoder):
            self.encoder.to(memory_format=torch.channels_last)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.config.get("metrics", {}))

    @torch.inference_mode()
    def embed(self, patches: np.ndarray, batch_size: int = 128, views: int | None = None) -> Tensor:
        """Embeddings ``(B, D)`` of grayscale patches ``(B, H, W)`` (uint8 or float in
        [0, 1], as :func:`cytowords.sections.read_fields` reads them) sampled at
        ``pixel_size_um``; H = W = :attr:`read_px` (the field with the encoder's context).
        views: mirror/rotation views averaged per patch (None: :attr:`views`)."""
        arr = np.asarray(patches)
        if arr.ndim != 3:
            raise ValueError(f"embed: patches have shape {arr.shape}; expected (B, H, W)")
        x = to_unit_float(arr)
        out = []
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[i : i + batch_size]).to(self.device)[:, None]
            out.append(self.embed_tensor(xb, views).float().cpu())
        if not out:
            return torch.zeros((0, self.embed_dim))
        return torch.cat(out)

    def embed_tensor(self, x: Tensor, views: int | None = None) -> Tensor:
        """Embeddings of a float patch tensor ``(B, 1, H, W)`` in [0, 1] already on the
        bundle's device, averaged over ``views`` (None: :attr:`views`); call it under
        ``torch.inference_mode``."""
        n = self.views if views is None else check_views(views)
        return embed_views(self.encoder, x, n)

    @torch.inference_mode()
    def classify(self, emb: Tensor, views: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(probs (B, n_areas), ood_score (B,), rejected (B,) bool)``.

        probs are a distribution over the known areas (the none class, if present, is
        removed and the rest renormalised); rejected is True where the open-set score
        exceeds the threshold calibrated for ``views`` (the count the embeddings were
        averaged over; None: :attr:`views`) or the none class is the most probable."""
        e = emb.to(self.device).float()
        logits = self.head(e)
        p_all = torch.softmax(logits, 1)
        n = len(self.area_ids)
        probs = p_all[:, :n]
        probs = probs / probs.sum(1, keepdim=True).clamp_min(1e-12)
        score = self.scorer.score(e, logits)
        rejected = score > self.threshold_for(views)
        if self.none_class:
            rejected = rejected | (p_all.argmax(1) == n)
        return probs.cpu(), score.cpu(), rejected.cpu()

    @torch.inference_mode()
    def predict(self, emb: Tensor, views: int | None = None) -> FieldPredictions:
        """Everything the model says of fields with embeddings ``emb`` ``(B, D)`` (averaged
        over ``views``; None: :attr:`views`): :class:`FieldPredictions`. The one place
        where areas, rejection, voting and cortex are decided from embeddings: ROI
        descriptions, maps, the pixel-size check, teaching and evaluation all read it."""
        emb = emb.float()
        probs, score, rejected = self.classify(emb, views)
        level = self.noncortex_level(views)
        # a level at the threshold leaves no band between "unknown cortex" and "no cortex":
        # it would let only accepted fields vote, so a region of unknown cortex with a few
        # accepted fields would be named; the cortex detector decides the votes instead
        has_band = level is not None and level > self.threshold_for(views)
        cortex = None
        if self.cortex is not None:
            cortex = (self.cortex_probability(emb) >= self.cortex.config.threshold).numpy()
            rejected = rejected | torch.from_numpy(~cortex)  # no cortex: no known area
        if has_band:
            votes = (score < level).numpy()
        elif level is not None and cortex is not None:
            votes = cortex.copy()
        else:
            votes = np.ones(len(score), bool)
        if cortex is None and level is not None:
            cortex = (score < level).numpy()
        return FieldPredictions(
            probs=probs.numpy().astype(np.float32),
            ood_score=score.numpy().astype(np.float32),
            rejected=rejected.numpy().astype(bool),
            votes=votes,
            cortex=cortex,
            domain=None if self.domain is None else self.domain.distance(emb),
        )

    @property
    def caption_input(self) -> str:
        """What the captioner reads (:data:`cytowords.model.caption_input.CAPTION_INPUTS`);
        bundles that record none read the embedding only."""
        return str((self.config.get("extra") or {}).get("caption_input") or "embedding")

    @property
    def uses_readout(self) -> bool:
        """True when the captioner is conditioned on the region's readout vector
        (:mod:`cytowords.measure.vector`): pass it to :meth:`caption`."""
        return self.captioner is not None and uses_readout(self.caption_input)

    def caption(
        self,
        emb: Tensor,
        max_new_tokens: int = 96,
        areas: Sequence[str | None] | None = None,
        readout: np.ndarray | Tensor | None = None,
        special: Collection[str] | Sequence[Collection[str] | None] | None = None,
        wm_border: str | Sequence[str | None] | None = None,
        generated: list[str] | None = None,
    ) -> list[str]:
        """Greedy captions (one per embedding row), as the user is shown them.

        areas: optional area id per row; the caption is then anchored on it: it starts
        with ``"Area <id>"`` (as every training caption does) and the language model
        describes that area from the embedding. ``None`` entries (and no ``areas``)
        generate freely; the caption then names whatever area the model chooses.
        readout: readout vectors ``(B, READOUT_DIM)`` (or one for every row) of the
        regions (None: "not measured"). A bundle that :attr:`uses_readout` reads it, and
        the caption's measured numbers are written from it (:func:`fill_slots`); for
        every bundle, a thickness or layer I number the caption states is written as the
        row's measured value where the readout measured it, and the caption's sentences
        and clauses that the row's readout contradicts (layer IV, thin/thick cortex) are
        left out.
        special: the special-cell kinds the region's measurement supports
        (:meth:`cytowords.measure.Readout.special_support`), one collection for every row
        or one per row; None: none. A caption's clauses that state Betz or Meynert cells
        not supported are left out.
        wm_border: the readout's white-matter border term
        (:attr:`cytowords.measure.Readout.wm_border`: "sharp", "gradual", "varies" or
        None), one for every row or one per row; not in the readout vector. A caption's
        clauses claiming a sharp border where it decided "gradual", or a gradual one where
        it decided "sharp", are left out. All by one function,
        :func:`~cytowords.model.caption_input.shown_caption`: every bundle writes
        the literature of the area it names, true of this tissue only where the
        measurement agrees.
        generated: a list that, when given, is extended with the captions as generated
        (measured numbers written into their slots), before the shown caption leaves
        anything out: what the evaluation counts the left-out statements in."""
        if self.captioner is None:
            raise ValueError("this model bundle has no language model; it cannot caption")
        feats = self.caption_features(emb, readout)
        prompts = None
        if areas is not None:
            prompts = [caption_prompt(a) for a in areas]
        texts = self.captioner.generate(feats, max_new_tokens=max_new_tokens, prompts=prompts)
        vectors = readout_tensor(readout, len(texts))
        if self.uses_readout:
            texts = fill_all(texts, vectors)
        rows = special_rows(special, len(texts))
        wm = wm_border_rows(wm_border, len(texts))
        vecs = vectors.cpu().numpy()
        if generated is not None:
            generated.extend(texts)
        return [shown_caption(t, v, k, w) for t, v, k, w in zip(texts, vecs, rows, wm)]

    @torch.inference_mode()
    def caption_features(self, emb: Tensor, readout: np.ndarray | Tensor | None = None) -> Tensor:
        """Captioner input for embeddings as the bundle was trained
        (``extra.caption_input``): the embedding, + the area head's class probabilities
        (incl. the none class), + the readout vectors (``readout``; None: "missing")."""
        return caption_inputs(self.caption_input, emb.to(self.device), self.head, readout)
