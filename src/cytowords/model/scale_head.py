"""Scale head: how large the tissue in a field looks, read from the frozen embedding.

A ridge regression (closed form) from a field's embedding to ``log s``, where the field was
read from a section whose stated pixel size is ``s ×`` its true one (``s > 1``: the stated
size is too large, the tissue reads larger than it is, the cortex thicker). Fitted on
cortex fields of training brains read at ``s`` log-uniform in [0.6, 1.6], its ridge
strength chosen on validation brains. Ridge shrinks the estimate towards ``s = 1``, so the
head carries a *calibration*: a linear map ``a + b · raw`` from the regression's output to
``log s``, fitted on validation sections read at known factors (their section-level
medians), which :meth:`ScaleHead.predict` applies (files without one: the identity). The
*band* is the range of the calibrated section-level median of ``log s`` that validation
sections read at their true size (``s = 1``) gave, so a section whose median lies outside
it is read at a suspect pixel size
(:func:`cytowords.sections.scale_check.estimate_scale`).

Stored in a bundle as :data:`SCALE_HEAD_FILE` (safetensors, covered by ``hashes.json``);
bundles without it have no scale head (``ModelBundle.scale_head`` is None). Fitted by
:mod:`cytowords.training.stages.scale_head`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .tensor_file import load_tensor_file, save_tensor_file

#: the bundle file holding the scale head
SCALE_HEAD_FILE = "scale_head.safetensors"
#: a head whose section medians rise by less than this per unit of log s is not calibrated
MIN_CALIBRATION_SLOPE = 0.05


class ScaleHead:
    """A linear map from embeddings to ``log s`` (s: stated / true pixel size).

    Attributes:
        weight: ``(D,)`` float64 coefficients on the raw embedding.
        bias: intercept (log s).
        band: ``(lo, hi)`` section-level median ``log s`` (calibrated) range of validation
            sections at their true size; outside it the stated pixel size is suspect.
        info: how it was fitted (brains, fields, ridge strength, validation error).
        calibration: ``(a, b)``: :meth:`predict` is ``a + b ·`` the regression's output
            (:meth:`predict_raw`); ``(0, 1)``: none.
    """

    def __init__(
        self,
        weight: torch.Tensor | np.ndarray,
        bias: float,
        band: tuple[float, float] = (-np.inf, np.inf),
        info: dict | None = None,
        calibration: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        w = weight.detach().cpu().numpy() if torch.is_tensor(weight) else np.asarray(weight)
        self.weight = w.astype(np.float64).reshape(-1)
        self.bias = float(bias)
        self.band = (float(band[0]), float(band[1]))
        self.info = dict(info or {})
        a, b = (float(v) for v in calibration)
        if not (np.isfinite(a) and np.isfinite(b) and b > 0):
            raise ValueError(f"scale head: calibration {calibration!r} is not (a, b > 0)")
        self.calibration = (a, b)

    @property
    def embed_dim(self) -> int:
        """Embedding size D it was fitted on."""
        return int(self.weight.shape[0])

    def predict_raw(self, emb: torch.Tensor | np.ndarray) -> np.ndarray:
        """``(B,)`` float64 output of the regression (uncalibrated ``log s``) for embeddings
        ``(B, D)``."""
        e = emb.detach().float().cpu().numpy() if torch.is_tensor(emb) else np.asarray(emb)
        if e.ndim != 2 or e.shape[1] != self.embed_dim:
            raise ValueError(
                f"scale head: embeddings of shape {tuple(e.shape)}; expected (B, {self.embed_dim})"
            )
        return e.astype(np.float64) @ self.weight + self.bias

    def predict(self, emb: torch.Tensor | np.ndarray) -> np.ndarray:
        """``(B,)`` float64 predicted ``log s`` of embeddings ``(B, D)`` (calibrated)."""
        a, b = self.calibration
        return a + b * self.predict_raw(emb)

    def with_band(self, lo: float, hi: float, **info: object) -> ScaleHead:
        """A copy with another band (log s) and ``info`` entries added."""
        return ScaleHead(self.weight, self.bias, (lo, hi), {**self.info, **info}, self.calibration)

    def with_calibration(self, a: float, b: float) -> ScaleHead:
        """A copy whose :meth:`predict` is ``a + b ·`` :meth:`predict_raw` (band unchanged)."""
        return ScaleHead(self.weight, self.bias, self.band, self.info, (a, b))

    def save(self, path: str | Path) -> Path:
        """Write it as safetensors to ``path`` (a bundle's :data:`SCALE_HEAD_FILE`), atomically."""
        meta = {
            "bias": repr(self.bias),
            "band": json.dumps(list(self.band)),
            "info": json.dumps(self.info, sort_keys=True),
            "calibration": json.dumps(list(self.calibration)),
        }
        return save_tensor_file(path, {"weight": torch.from_numpy(self.weight.copy())}, meta)

    @classmethod
    def load(cls, path: str | Path) -> ScaleHead:
        """Read a file written by :meth:`save` (ValueError, one line, when malformed; a file
        without a calibration has the identity)."""
        t, meta = load_tensor_file(path, "scale head")
        try:
            band = json.loads(meta["band"])
            cal = json.loads(meta.get("calibration", "[0.0, 1.0]"))
            return cls(
                t["weight"],
                float(meta["bias"]),
                (band[0], band[1]),
                json.loads(meta["info"]),
                (cal[0], cal[1]),
            )
        except (KeyError, ValueError, RuntimeError, IndexError, TypeError) as exc:
            raise ValueError(f"scale head {path}: cannot read it ({exc})") from None


def fit_calibration(raw: np.ndarray, log_s: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` such that ``a + b · raw`` estimates ``log s``, from section-level medians
    ``raw`` ``(N,)`` of the uncalibrated head read at known ``log s`` ``(N,)`` (at least two
    distinct): the least-squares line ``raw = c + d · log s`` inverted (``a = -c / d``,
    ``b = 1 / d``), so that a section read at a known factor is estimated without the
    shrinkage (the medians' noise does not flatten the map, as regressing ``log s`` on
    ``raw`` would). ValueError when ``raw`` does not rise with ``log s`` (slope at most
    :data:`MIN_CALIBRATION_SLOPE`: the head does not see the scale)."""
    x = np.asarray(log_s, np.float64).reshape(-1)
    y = np.asarray(raw, np.float64).reshape(-1)
    if len(x) != len(y) or len(np.unique(x)) < 2:
        raise ValueError("scale head calibration: needs medians at two or more known factors")
    d, c = np.polyfit(x, y, 1)
    if not d > MIN_CALIBRATION_SLOPE:
        raise ValueError(
            f"scale head calibration: the medians do not rise with log s (slope {d:.3g})"
        )
    return float(-c / d), float(1.0 / d)


def fit_ridge(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """``(weight (D,), bias)`` of the ridge regression of ``y`` ``(N,)`` on ``x`` ``(N, D)``
    (closed form on standardised columns; ``ridge``: the penalty on the standardised
    weights, in units of fields), mapped back to raw columns."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    mu, sd = x.mean(0), x.std(0) + 1e-8
    z = (x - mu) / sd
    ym = y.mean()
    d = z.shape[1]
    w = np.linalg.solve(z.T @ z + ridge * np.eye(d), z.T @ (y - ym))
    w_raw = w / sd
    return w_raw, float(ym - mu @ w_raw)
