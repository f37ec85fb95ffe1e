"""The dense encoder architecture: one network for single fields and for whole sections.

Everything before the pooling is local and translation-equivariant (for shifts by the
feature stride), so the embedding of a field is the same whether the field is cut out
with its context and embedded alone (:meth:`DenseNet.embed`) or read off one pass over a
whole chunk of a section (:meth:`DenseNet.dense_embed`):

1. inputs: local contrast (intensity minus its local mean, divided by the local standard
   deviation with a floor, both over a box of radius ``lcn_um``) and the absolute stain
   level ``(x - 0.5) * 4``;
2. trunk: two 4×4 convolutions of stride 2 (feature cell ``k`` centred on input pixel
   ``4k + 1.5``), then pre-activation residual blocks of 3×3 convolutions (the first of
   each block dilated) at stride 4, BatchNorm (a fixed affine map at evaluation: no
   statistics over space), a 1×1 expansion to ``4 * width`` channels;
3. pooling over the field's central ``patch_px`` window: mean and root mean square of the
   features, mean and standard deviation of the intensity (box filters, so sliding them
   over a feature map gives every field at once);
4. projection: a two-layer MLP written as 1×1 convolutions.

The receptive field reaches ``R`` px beyond a feature cell's 4-px block; a field is read
with a halo of ``context_px >= R`` px on each side (rounded up to the stride), i.e.
``input_px = patch_px + 2 * context_px`` px, and only its central window is pooled, so
zero padding at the border of the read never reaches the embedding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STRIDE_PX = 4
#: intensity std (in [0, 1] units) below which a patch (field arch) or a neighbourhood
#: (dense arch) counts as flat, so background stays flat instead of amplified noise
STD_FLOOR = 0.05
_RMS_EPS = 1e-6
#: feature-map values (floats) pooled at a time by :meth:`DenseNet.dense_features` (1 MiB)
_POOL_CHUNK = 1 << 18


def window_sum(x: Tensor, k: int, dim: int) -> Tensor:
    """Sums of ``x`` over every ``k`` consecutive positions along ``dim`` (no padding; the
    length there becomes ``n - k + 1``): sums over 2, 4, 8... positions by doubling, and
    the powers of two that make up ``k`` added, i.e. about ``2 log2 k`` additions per output
    instead of ``k``. Every output adds its values in the same order wherever it lies, so a
    window's sum does not depend on what surrounds it (dense maps equal per-field ones).
    Always a new tensor (callers may scale it in place)."""
    k = int(k)
    out_len = x.shape[dim] - k + 1
    if k < 1 or out_len < 1:
        raise ValueError(f"window of {k} positions along dim {dim} of a tensor {tuple(x.shape)}")
    res: Tensor | None = None
    part, step, offset = x, 1, 0  # part[i] = sum of x[i : i + step]
    while True:
        if k & step:
            seg = part.narrow(dim, offset, out_len)
            res = seg if res is None else res + seg
            offset += step
        if 2 * step > k:
            break
        n = part.shape[dim] - step
        part = part.narrow(dim, 0, n) + part.narrow(dim, step, n)
        step *= 2
    assert res is not None
    return res.clone() if k == 1 else res


def box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean of ``x`` ``(N, C, H, W)`` over the ``(2 r + 1)²`` box around each pixel (pixels
    outside ``x`` are left out of the mean), same shape."""
    k = 2 * radius + 1
    # separable: a mean over rows, then over columns (the count of a clipped box is the
    # product of its row and column counts)
    out = x
    for dim in (-2, -1):
        n = x.shape[dim]
        pad = [0, 0, radius, radius] if dim == -2 else [radius, radius]
        idx = torch.arange(n, device=x.device)
        count = (idx.clamp_max(n - 1 - radius) + radius + 1) - (idx - radius).clamp_min(0)
        shape = (n, 1) if dim == -2 else (n,)
        out = window_sum(F.pad(out, pad), k, dim).div_(count.reshape(shape).to(x.dtype))
    return out


def box_pool(x: Tensor, k: int, stride: int = 1) -> Tensor:
    """Mean of ``x`` ``(N, C, H, W)`` over every ``k × k`` window at ``stride`` (no
    padding), as ``F.avg_pool2d(x, k, stride)``: sums over rows, then over columns
    (:func:`window_sum`). With a stride that divides ``k``, sums of ``stride`` positions
    at a time first (a stride-4 pool of 64 px adds 16 block sums)."""
    out = x
    for dim in (-2, -1):
        n = out.shape[dim]
        if stride > 1 and k % stride == 0:
            m = (n - k) // stride * stride + k  # the positions that whole windows cover
            blocks = out.narrow(dim, 0, m).unflatten(dim, (m // stride, stride)).sum(dim)
            out = window_sum(blocks, k // stride, dim)
        else:
            out = window_sum(out, k, dim)
            if stride > 1:
                out = out[..., ::stride, :] if dim == -2 else out[..., ::stride]
    return out.div_(k * k)


def reach_px(pixel_size_um: float, dilations: tuple[int, ...], lcn_um: float) -> int:
    """How far (px) the dense network's receptive field reaches beyond a feature cell's
    4-px block: the contrast window's radius, 3 px for the two stride-2 4×4 convolutions
    (a cell centred on 4k + 1.5 sees 4k - 3 .. 4k + 6) and 4 (d + 1) px for each residual
    block (a 3×3 convolution of dilation d and one of dilation 1, at stride 4)."""
    return (
        lcn_radius_px(pixel_size_um, lcn_um) + 3 + sum(STRIDE_PX * (int(d) + 1) for d in dilations)
    )


def lcn_radius_px(pixel_size_um: float, lcn_um: float) -> int:
    """Radius (px, at least 1) of the local contrast normalisation box of ``lcn_um`` µm."""
    return max(1, round(float(lcn_um) / float(pixel_size_um)))


def context_px(pixel_size_um: float, dilations: tuple[int, ...], lcn_um: float) -> int:
    """The halo (px) read on each side of a field: :func:`reach_px` rounded up to the
    feature stride, so field reads stay on the feature grid."""
    return STRIDE_PX * math.ceil(reach_px(pixel_size_um, dilations, lcn_um) / STRIDE_PX)


class _Block(nn.Module):
    """Pre-activation residual block at constant resolution: 3×3 conv (dilation ``d``),
    3×3 conv; padding keeps the size (the border cells are never pooled)."""

    def __init__(self, c: int, d: int) -> None:
        super().__init__()
        self.n1 = nn.BatchNorm2d(c)
        self.c1 = nn.Conv2d(c, c, 3, 1, d, dilation=d, bias=False)
        self.n2 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        # in-place ReLUs and residual sum: no backward pass needs the values they replace
        out = self.c1(torch.relu_(self.n1(x)))
        return self.c2(torch.relu_(self.n2(out))).add_(x)


class DenseNet(nn.Module):
    """The dense-architecture network of :class:`cytowords.model.encoder.CytoEncoder`.

    Built from the encoder config's ``pixel_size_um``, ``patch_px``, ``width``,
    ``embed_dim``, ``dilations`` and ``lcn_um`` (module docstring)."""

    def __init__(
        self,
        *,
        pixel_size_um: float,
        patch_px: int,
        width: int,
        embed_dim: int,
        dilations: tuple[int, ...],
        lcn_um: float,
    ) -> None:
        super().__init__()
        w = int(width)
        self.patch_px = int(patch_px)
        #: radius (px) of the local contrast normalisation box
        self.lcn_px = lcn_radius_px(pixel_size_um, lcn_um)
        #: receptive-field reach (px) beyond a feature cell's block (:func:`reach_px`)
        self.reach_px = reach_px(pixel_size_um, dilations, lcn_um)
        self.feature_stride_px = STRIDE_PX
        self.context_px = context_px(pixel_size_um, dilations, lcn_um)
        self.input_px = self.patch_px + 2 * self.context_px
        self.stem = nn.Sequential(
            nn.Conv2d(2, w // 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(w // 2, w, 4, 2, 1, bias=False),
        )
        self.blocks = nn.Sequential(*[_Block(w, int(d)) for d in dilations])
        self.expand = nn.Sequential(
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 4 * w, 1, bias=False),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(inplace=True),
        )
        c = 4 * w
        self.proj = nn.Sequential(
            nn.Conv2d(2 * c + 2, 2 * c, 1), nn.ReLU(inplace=True), nn.Conv2d(2 * c, embed_dim, 1)
        )

    def dense_inputs(self, x: Tensor) -> Tensor:
        """The trunk's input ``(N, 2, H, W)`` from ``x`` ``(N, 1, H, W)`` in [0, 1]: local
        contrast and stain level (step 1 of the module doc). The box is symmetric, so a
        mirror or rotation of ``x`` gives the same mirror or rotation of these: test-time
        views compute them once per window."""
        x = x.float()
        mean = box_mean(x, self.lcn_px)
        var = (box_mean(x * x, self.lcn_px) - mean * mean).clamp_min(0.0)
        return torch.cat([(x - mean) / (var.sqrt() + STD_FLOOR), (x - 0.5) * 4.0], dim=1)

    def features(self, z: Tensor, cells: tuple[slice, slice] | None = None) -> Tensor:
        """Feature map ``(N, 4 width, ⌊H/4⌋, ⌊W/4⌋)`` of the trunk's input ``z`` ``(N, 2, H,
        W)`` (:meth:`dense_inputs`; H, W even); cell ``(k, l)`` describes the input block at
        ``(4k, 4l)``. ``cells``: only these rows and columns of the map: the expansion is
        pointwise (1×1 convolution, BatchNorm, ReLU), so it runs on them alone (a field's
        pooled window is 16 of its 26 × 26 cells)."""
        t = self.blocks(self.stem(z))
        return self.expand(t if cells is None else t[..., cells[0], cells[1]])

    def dense_features(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """What the projection reads at every field inside ``x`` ``(N, 1, H, W)``: ``(N,
        2 * 4 width + 2, H', W')`` (the pooled statistics of step 3 in the module doc);
        position ``(i, j)`` is the field of ``x[..., 4i : 4i + input_px, 4j : 4j +
        input_px]`` (its central window starts at ``context_px + 4i``), with ``H' = (H -
        input_px) // 4 + 1`` (trailing rows/columns that hold no whole field are not
        used). ``z``: :meth:`dense_inputs` of ``x`` when already computed (same H, W)."""
        h, w = x.shape[-2:]
        if x.ndim != 4 or x.shape[1] != 1 or min(h, w) < self.input_px:
            raise ValueError(
                f"dense encoder input has shape {tuple(x.shape)}; expected (N, 1, H, W) with "
                f"H, W >= {self.input_px} px (a field of {self.patch_px} px and its context "
                f"of {self.context_px} px each side)"
            )
        if z is not None and z.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"dense inputs of shape {tuple(z.shape)} for an image {tuple(x.shape)}")
        s, ctx, n = STRIDE_PX, self.context_px, self.patch_px
        nh, nw = (h - self.input_px) // s + 1, (w - self.input_px) // s + 1
        # rows/cols beyond the last whole field are dropped (even size for the stem)
        cut = (..., slice(0, self.input_px + s * (nh - 1)), slice(0, self.input_px + s * (nw - 1)))
        x = x[cut].float()
        z = self.dense_inputs(x) if z is None else z[cut]
        a, p = ctx // s, n // s
        f = self.features(z, (slice(a, a + nh + p - 1), slice(a, a + nw + p - 1)))
        c = f.shape[1]
        out = f.new_empty((f.shape[0], 2 * c + 2, nh, nw))
        # a few channels at a time, so that the box filters' passes stay in the CPU's cache
        step = max(1, _POOL_CHUNK // (f.shape[-2] * f.shape[-1]))
        for i in range(0, c, step):
            j = min(c, i + step)
            fc = f[:, i:j]
            out[:, i:j] = box_pool(fc, p)
            out[:, c + i : c + j] = box_pool(fc * fc, p).add_(_RMS_EPS).sqrt_()
        core = x[..., ctx : ctx + n + s * (nh - 1), ctx : ctx + n + s * (nw - 1)]
        xm = box_pool(core, n, s)
        xs = (box_pool(core * core, n, s) - xm * xm).clamp_min(0.0).sqrt()
        out[:, 2 * c] = (xm[:, 0] - 0.5) * 4.0
        out[:, 2 * c + 1] = xs[:, 0] * 10.0
        return out

    def project_hidden(self, f: Tensor) -> Tensor:
        """The projection's hidden layer ``(..., 2 * 4 width)`` of features ``(...,
        2 * 4 width + 2)`` (one position per row, :meth:`dense_features`)."""
        c = self.proj[0]
        return torch.relu_(F.linear(f, c.weight.flatten(1), c.bias))

    def project_out(self, h: Tensor) -> Tensor:
        """Embeddings ``(..., D)`` from hidden layers ``(..., 2 * 4 width)``: an affine
        map, so the embedding averaged over views is this of the averaged hidden layers."""
        c = self.proj[2]
        return F.linear(h, c.weight.flatten(1), c.bias)

    def dense_embed(self, x: Tensor) -> Tensor:
        """Embeddings ``(N, D, H', W')`` of every field inside ``x`` ``(N, 1, H, W)``
        (positions as :meth:`dense_features`)."""
        f = self.dense_features(x).permute(0, 2, 3, 1)
        return self.project_out(self.project_hidden(f)).permute(0, 3, 1, 2)

    def embed(self, x: Tensor) -> Tensor:
        """Embeddings ``(B, D)`` of fields read with their context, ``(B, 1, input_px,
        input_px)``: the central ``patch_px`` window is described."""
        if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[-2:]) != (self.input_px,) * 2:
            raise ValueError(
                f"dense encoder input has shape {tuple(x.shape)}; expected (B, 1, "
                f"{self.input_px}, {self.input_px}): the {self.patch_px}-px field with "
                f"{self.context_px} px of context on each side (read input_px, not patch_px)"
            )
        return self.dense_embed(x)[:, :, 0, 0]
