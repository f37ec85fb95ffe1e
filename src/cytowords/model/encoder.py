"""CytoNet-style patch encoders and the encoder protocol.

Every encoder used by cytowords follows one small protocol (:class:`PatchEncoder`):
``embed(x)`` maps grayscale patches ``(B, 1, H, W)`` float32 with intensities in
[0, 1] to embeddings ``(B, D)``, and the attributes ``embed_dim`` (D),
``pixel_size_um`` (µm per pixel the encoder expects) and ``patch_px`` (patch side in
pixels at that resolution) describe its input.

* :class:`CytoEncoder` is the built-in CNN, trained here and stored as safetensors, in
  one of two architectures (:attr:`EncoderConfig.arch`): ``"field"`` (per-field
  standardisation, GroupNorm and global pooling over the field) and ``"dense"`` (local
  contrast normalisation and a translation-equivariant trunk, so the embeddings of every
  field of a whole section come from one pass: :meth:`CytoEncoder.dense_embed`).
* :class:`ExternalEncoder` wraps a user's real CytoNet exported as TorchScript.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from cytowords.model.dense_encoder import STD_FLOOR as _STD_FLOOR
from cytowords.model.dense_encoder import STRIDE_PX as DENSE_STRIDE_PX
from cytowords.model.dense_encoder import DenseNet, context_px


@runtime_checkable
class PatchEncoder(Protocol):
    """Protocol of every patch encoder: ``embed((B,1,H,W) in [0,1]) -> (B, D)``."""

    embed_dim: int
    pixel_size_um: float
    patch_px: int

    def embed(self, x: Tensor) -> Tensor: ...


ARCHS = ("field", "dense")


@dataclass(frozen=True)
class EncoderConfig:
    """Configuration of the built-in :class:`CytoEncoder`.

    pixel_size_um: µm per pixel of the input patches; patch_px: side of the field (px)
    the embedding describes; width: channels of the first stage; embed_dim: output
    embedding size. arch: ``"field"`` (the per-field network: 4 stages of residual blocks
    with ×2 channels each, ×32 down, statistics over the whole field) or ``"dense"``
    (:class:`CytoEncoder` docstring). Dense only: dilations: dilation of each residual
    block of the stride-4 trunk (their sum sets the receptive field: 8 px per unit);
    lcn_um: radius (µm) of the box window of the local contrast normalisation.
    """

    pixel_size_um: float = 16.0
    patch_px: int = 128
    width: int = 32
    embed_dim: int = 256
    arch: str = "field"
    dilations: tuple[int, ...] = (1, 2)
    lcn_um: float = 512.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"encoder arch {self.arch!r}; expected one of {', '.join(ARCHS)}")
        if self.arch == "dense":
            if self.patch_px % DENSE_STRIDE_PX or self.patch_px <= 0:
                raise ValueError(
                    f"dense encoder: patch_px {self.patch_px} must be a positive multiple of "
                    f"the feature stride {DENSE_STRIDE_PX} px"
                )
            if not self.dilations or any(int(d) != d or d < 1 for d in self.dilations):
                raise ValueError(
                    f"dense encoder: dilations {self.dilations!r} must be positive integers"
                )
            if self.width < 2 or self.width % 2 or self.lcn_um <= 0:
                raise ValueError(
                    f"dense encoder: width {self.width} must be even and >= 2, lcn_um "
                    f"{self.lcn_um} positive"
                )

    @property
    def context_px(self) -> int:
        """Context (px) read on each side of a field: 0 for the field architecture."""
        if self.arch == "field":
            return 0
        return context_px(self.pixel_size_um, self.dilations, self.lcn_um)

    @property
    def input_px(self) -> int:
        """Side (px) of what the encoder embeds per field: ``patch_px + 2 * context_px``."""
        return self.patch_px + 2 * self.context_px

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-able dict; a field-arch config keeps the keys bundles had
        before the dense architecture existed (so it reads the same everywhere)."""
        d = asdict(self)
        if self.arch == "field":
            for k in ("arch", "dilations", "lcn_um"):
                d.pop(k)
        else:
            d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        """A config from :meth:`to_dict`; dicts without ``arch`` are field-arch configs."""
        try:
            dense = {}
            if d.get("arch", "field") != "field":
                dense = {
                    "dilations": tuple(int(v) for v in d["dilations"]),
                    "lcn_um": float(d["lcn_um"]),
                }
            return cls(
                pixel_size_um=float(d["pixel_size_um"]),
                patch_px=int(d["patch_px"]),
                width=int(d["width"]),
                embed_dim=int(d["embed_dim"]),
                arch=str(d.get("arch", "field")),
                **dense,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"encoder config {d!r} is invalid ({exc}); expected keys "
                "pixel_size_um, patch_px, width, embed_dim (dense arch: also arch, "
                "dilations, lcn_um)"
            ) from None


class _ResBlock(nn.Module):
    """Pre-activation residual block; ``stride`` 2 halves the resolution."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.n1 = nn.GroupNorm(min(8, c_in), c_in)
        self.c1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.n2 = nn.GroupNorm(min(8, c_out), c_out)
        self.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.skip = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Conv2d(c_in, c_out, 1, stride, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.c1(torch.relu(self.n1(x)))
        out = self.c2(torch.relu(self.n2(out)))
        return out + self.skip(x)


class CytoEncoder(nn.Module):
    """The built-in CytoNet-style CNN, in the architecture its config names.

    ``arch="field"``: stem (stride 4) -> 4 residual stages -> mean+max pool -> MLP. Input
    ``(B, 1, H, W)`` float32 in [0, 1] (any H, W; trained at ``patch_px``); the model
    standardises intensities per patch (zero mean, std ~1 with a floor so flat patches such
    as background stay flat) so that the network sees the contrast pattern; patch mean and
    std enter the projection explicitly. It describes exactly the pixels it is given
    (``context_px`` 0) and has no dense evaluation.

    ``arch="dense"`` (:mod:`cytowords.model.dense_encoder`): local contrast normalisation,
    a translation-equivariant stride-4 trunk and pooling over the field's central window.
    Input ``(B, 1, input_px, input_px)``: the field of ``patch_px`` px with ``context_px``
    px of context on each side; :meth:`dense_embed` gives every field of a larger image
    in one pass, equal to :meth:`embed` of each field cut out with its context.

    Output ``(B, embed_dim)``. Attributes: ``context_px`` (halo read on each side of a
    field, px), ``input_px`` (``patch_px + 2 * context_px``: the side of what
    :meth:`embed` takes), ``feature_stride_px`` (px between neighbouring outputs of
    :meth:`dense_embed`; 0 for the field architecture).
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or EncoderConfig()
        w = self.config.width
        self.embed_dim = self.config.embed_dim
        self.pixel_size_um = self.config.pixel_size_um
        self.patch_px = self.config.patch_px
        self.feature_stride_px = 0
        self.dense: DenseNet | None = None
        if self.config.arch == "dense":
            cfg = self.config
            self.dense = DenseNet(
                pixel_size_um=cfg.pixel_size_um,
                patch_px=cfg.patch_px,
                width=cfg.width,
                embed_dim=cfg.embed_dim,
                dilations=cfg.dilations,
                lcn_um=cfg.lcn_um,
            )
            self.feature_stride_px = self.dense.feature_stride_px
        self.context_px = self.config.context_px
        self.input_px = self.config.input_px
        if self.dense is not None:
            return
        # stem: 2 channels (standardised intensity + raw mean-level map) -> width, /4
        self.stem = nn.Sequential(
            nn.Conv2d(2, w, 5, 2, 2, bias=False),
            nn.GroupNorm(min(8, w), w),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        chans = [w, w, 2 * w, 4 * w, 4 * w]
        self.stages = nn.Sequential(
            *[_ResBlock(chans[i], chans[i + 1], 1 if i == 0 else 2) for i in range(4)]
        )
        c = chans[-1]
        self.norm = nn.GroupNorm(min(8, c), c)
        self.proj = nn.Sequential(
            nn.Linear(2 * c + 2, 2 * c), nn.ReLU(), nn.Linear(2 * c, self.embed_dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.dense is not None:
            return self.dense.embed(x)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"CytoEncoder input has shape {tuple(x.shape)}; expected (B, 1, H, W)")
        x = x.float()
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.std(dim=(2, 3), keepdim=True)
        # channel 0: contrast pattern (a floor keeps flat patches flat, e.g. background);
        # channel 1: absolute stain level (centred)
        z = torch.cat([(x - mean) / (std + _STD_FLOOR), (x - 0.5) * 4.0], dim=1)
        h = torch.relu(self.norm(self.stages(self.stem(z))))
        # GroupNorm removes global level/contrast: give them to the head explicitly
        stats = torch.cat([(mean - 0.5) * 4.0, std * 10.0], dim=1).flatten(1)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3)), stats], dim=1)
        return self.proj(pooled)

    def embed(self, x: Tensor) -> Tensor:
        """Embeddings ``(B, embed_dim)`` of fields ``(B, 1, input_px, input_px)`` in [0, 1]
        (field architecture: any ``(B, 1, H, W)``, trained at ``patch_px``)."""
        return self.forward(x)

    @property
    def supports_dense(self) -> bool:
        """Whether :meth:`dense_embed` is available (the dense architecture)."""
        return self.dense is not None

    def dense_embed(self, x: Tensor) -> Tensor:
        """Embeddings of every field inside an image ``x`` ``(N, 1, H, W)`` in [0, 1] at
        ``pixel_size_um``, in one pass: ``(N, embed_dim, H', W')`` with
        ``H' = (H - input_px) // s + 1`` (likewise W'), ``s = feature_stride_px``.

        Output ``(i, j)`` is the embedding of the field centred at input pixel
        ``(c0 + i s, c0 + j s)``, ``c0 = input_px / 2`` (pixel ``p`` spans ``[p, p + 1)``):
        exactly :meth:`embed` of ``x[..., i s : i s + input_px, j s : j s + input_px]``,
        whose central ``patch_px`` window starts at ``context_px + i s``. Only fields
        whose context lies wholly inside ``x`` are returned; rows and columns after the
        last whole field are ignored. ``NotImplementedError`` for the field architecture
        (embed fields one by one there)."""
        return self._dense().dense_embed(x)

    def dense_inputs(self, x: Tensor) -> Tensor:
        """What the trunk reads from an image ``x`` ``(N, 1, H, W)``: ``(N, 2, H, W)`` (local
        contrast and stain level); a mirror or rotation of ``x`` gives the same mirror or
        rotation of them (:meth:`DenseNet.dense_inputs`)."""
        return self._dense().dense_inputs(x)

    def dense_features(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """The per-position features ``(N, F, H', W')`` that the projection reads, for every
        field inside ``x`` (positions as :meth:`dense_embed`; ``z``: :meth:`dense_inputs` of
        ``x`` when already computed; :meth:`DenseNet.dense_features`). :meth:`dense_embed`
        is ``project_out(project_hidden(.))`` of them, position by position."""
        return self._dense().dense_features(x, z)

    def project_hidden(self, f: Tensor) -> Tensor:
        """The projection's hidden layer ``(..., H)`` of features ``(..., F)`` (one position
        per row; nonlinear: applied per test-time view)."""
        return self._dense().project_hidden(f)

    def project_out(self, h: Tensor) -> Tensor:
        """Embeddings ``(..., embed_dim)`` from hidden layers ``(..., H)``: affine, so it is
        applied once to the hidden layers averaged over test-time views."""
        return self._dense().project_out(h)

    def _dense(self) -> DenseNet:
        if self.dense is None:
            raise NotImplementedError(
                "this encoder (field architecture) has no dense evaluation; embed fields one by one"
            )
        return self.dense


_EXPORT = (
    "export the network with torch.jit.script(model).save(FILE) or "
    "torch.jit.trace(model, example).save(FILE) (docs/model.md)"
)


def _refuse_non_torchscript(path: Path) -> None:
    """Refuse, in one line, the files people take for an exported network: a
    ``torch.save`` pickle (a whole model or a state dict: cytowords unpickles nothing) and
    a safetensors file (weights without the network's code). Only the file's zip member
    names or first bytes are read."""
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = {n.split("/", 1)[-1] for n in z.namelist()}
        if "data.pkl" in names and "constants.pkl" not in names:
            raise ValueError(
                f"external encoder {path} is a torch.save file (a pickled model or state "
                f"dict), not TorchScript; cytowords does not unpickle files: {_EXPORT}"
            )
        return
    with path.open("rb") as fh:
        head = fh.read(9)
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1:
        raise ValueError(
            f"external encoder {path} is a safetensors file: weights without the network "
            f"that computes with them; {_EXPORT}"
        )
    kind = "an old torch.save pickle" if head[:1] == b"\x80" else "not a zip archive"
    raise ValueError(
        f"external encoder {path} could not be loaded as TorchScript: {kind}, where a "
        f"TorchScript file is a zip archive; {_EXPORT}"
    )


class ExternalEncoder(nn.Module):
    """A user's encoder exported as TorchScript (e.g. a real CytoNet).

    The TorchScript module must map ``(B, 1, patch_px, patch_px)`` float32 patches with
    intensities in [0, 1] (sampled at ``pixel_size_um`` µm/px) to ``(B, embed_dim)``.
    Any normalisation the network needs must be inside the scripted module. Export with
    ``torch.jit.script(model).save(path)`` or ``torch.jit.trace(model, example).save``.
    Loading uses ``torch.jit.load`` (no pickle of arbitrary Python objects).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        pixel_size_um: float,
        patch_px: int,
        embed_dim: int,
        map_location: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"external encoder file {p} does not exist")
        _refuse_non_torchscript(p)
        try:
            self.module = torch.jit.load(str(p), map_location=map_location)
        except Exception as exc:
            raise ValueError(
                f"external encoder {p} could not be loaded as TorchScript "
                f"({_last_line(exc)}); expected a file written by torch.jit.save"
            ) from None
        if pixel_size_um <= 0 or patch_px <= 0 or embed_dim <= 0:
            raise ValueError(
                "external encoder: pixel_size_um, patch_px and embed_dim must be positive, "
                f"got {pixel_size_um}, {patch_px}, {embed_dim}"
            )
        self.path = p
        self.pixel_size_um = float(pixel_size_um)
        self.patch_px = int(patch_px)
        self.embed_dim = int(embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        out = self.module(x.float())
        if out.ndim != 2 or out.shape[1] != self.embed_dim:
            raise ValueError(
                f"external encoder {self.path} returned shape {tuple(out.shape)}; "
                f"expected (B, {self.embed_dim})"
            )
        return out

    def embed(self, x: Tensor) -> Tensor:
        """Embeddings ``(B, embed_dim)`` of patches ``(B,1,H,W)`` in [0, 1]."""
        return self.forward(x)


class EncoderError(ValueError):
    """An encoder that does not follow the protocol (input channels, output shape, values)."""


def _last_line(exc: BaseException) -> str:
    """The message of an exception, without a TorchScript traceback: its last line."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


@torch.inference_mode()
def probe_encoder(encoder: ExternalEncoder, n: int = 2) -> None:
    """Run ``encoder`` on a probe batch ``(n, 1, patch_px, patch_px)`` of random
    intensities in [0, 1]; :class:`EncoderError` (one line) unless it returns finite
    ``(n, embed_dim)``. A network that wants 3 channels is named as such."""
    px, d = encoder.patch_px, encoder.embed_dim
    x = torch.rand(n, 1, px, px, generator=torch.Generator().manual_seed(0))
    name = f"encoder {encoder.path}"
    try:
        out = encoder.module(x)
    except Exception as exc:  # noqa: BLE001 - TorchScript raises plain RuntimeErrors
        try:
            encoder.module(x.repeat(1, 3, 1, 1))
            rgb = True
        except Exception:  # noqa: BLE001
            rgb = False
        if rgb:
            raise EncoderError(
                f"{name} expects 3-channel input, but cytowords gives (B, 1, H, W) grayscale "
                "patches in [0, 1]; export a wrapper that takes one channel (e.g. repeating it: "
                "x.expand(-1, 3, -1, -1) inside the scripted module)"
            ) from None
        raise EncoderError(
            f"{name} fails on a probe batch of shape ({n}, 1, {px}, {px}) in [0, 1]: "
            f"{_last_line(exc)}"
        ) from None
    if not isinstance(out, Tensor) or tuple(out.shape) != (n, d):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise EncoderError(
            f"{name} returns {shape} for a probe batch of shape ({n}, 1, {px}, {px}); "
            f"expected ({n}, {d}) (embed dim {d} as declared)"
        )
    if not torch.isfinite(out).all():
        raise EncoderError(f"{name} returns non-finite values (NaN or inf) on a probe batch")
