"""Self-supervised spatial contrastive objective for the patch encoder.

Patches that lie close together in space (along the cortical ribbon, or plainly on a
section) are positives; all other patches in the batch are negatives. The loss is the
supervised-contrastive (SupCon) generalisation of InfoNCE with "same neighbourhood"
as the label: for each anchor, the log-probability of its positives among all other
batch members, averaged. Each patch additionally appears as two augmented views, so
every anchor has at least one positive (its own second view).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _stretch(x: Tensor, rnd) -> Tensor:
    """Half of the patches: an oblique-cut stretch (layers look wider by 1/cos of an
    angle up to 30° along a random direction) and a ±6 % isotropic scale (brain size)."""
    b = x.shape[0]
    sel = rnd(b) < 0.5
    if not sel.any():
        return x
    n = int(sel.sum())
    phi = rnd(n) * torch.pi
    s = 1.0 / torch.cos(rnd(n) * torch.pi / 6)
    iso = 0.94 + 0.12 * rnd(n)
    u = torch.stack([torch.cos(phi), torch.sin(phi)], 1)
    eye = torch.eye(2, device=x.device).expand(n, 2, 2)
    a = (eye + (1.0 / s - 1.0)[:, None, None] * u[:, :, None] * u[:, None, :]) / iso[:, None, None]
    theta = torch.cat([a, torch.zeros(n, 2, 1, device=x.device)], 2)
    grid = F.affine_grid(theta, list(x[sel].shape), align_corners=False)
    out = x.clone()
    out[sel] = F.grid_sample(
        x[sel], grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    return out


def augment(
    x: Tensor, *, generator: torch.Generator | None = None, geometric: bool = True
) -> Tensor:
    """Light, label-preserving augmentations of patches ``(B,1,H,W)`` in [0, 1].

    Per patch: with ``geometric``, for half of the patches an oblique-cut stretch (up to
    1/cos 30° along a random direction) and a ±6 % scale; random flips and 90° rotations
    (square patches), intensity gain/offset and gamma jitter, optional Gaussian blur
    (sigma ~0.5-1 px) and Gaussian noise. Returns a new tensor clipped to [0, 1].
    """
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"augment: patches have shape {tuple(x.shape)}; expected (B,1,H,W)")
    b = x.shape[0]
    dev = x.device
    g = generator

    def rnd(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=g).to(dev)

    out = x.clone()
    if geometric:
        out = _stretch(out, rnd)
    flip = rnd(b) < 0.5
    out[flip] = out[flip].flip(-1)
    if x.shape[-1] == x.shape[-2]:
        k = (rnd(b) * 4).long()
        for r in range(1, 4):
            sel = k == r
            if sel.any():
                out[sel] = torch.rot90(out[sel], r, dims=(-2, -1))
    gain = 0.8 + 0.4 * rnd(b, 1, 1, 1)
    offset = 0.1 * (rnd(b, 1, 1, 1) - 0.5)
    gamma = torch.exp(0.3 * (rnd(b, 1, 1, 1) - 0.5))
    out = (out.clamp(0, 1) ** gamma) * gain + offset
    blur = rnd(b) < 0.3
    if blur.any():
        kern = torch.tensor([0.25, 0.5, 0.25], device=dev)
        k2 = (kern[:, None] * kern[None, :])[None, None]
        out[blur] = F.conv2d(F.pad(out[blur], (1, 1, 1, 1), mode="replicate"), k2)
    noise_sd = 0.03 * rnd(b, 1, 1, 1)
    out = out + noise_sd * torch.randn(out.shape, generator=g).to(dev)
    return out.clamp(0.0, 1.0)


def spatial_contrastive_loss(
    z: Tensor, positions_um: Tensor, *, pos_radius_um: float, temperature: float = 0.1
) -> Tensor:
    """SupCon loss where positives are embeddings whose positions lie within a radius.

    z: ``(N, D)`` embeddings (normalised inside); positions_um: ``(N, P)`` coordinates in
    µm (e.g. (ribbon position, depth) or (y, x)); pos_radius_um: neighbours closer than
    this (Euclidean, µm) are positives; temperature: softmax temperature. Anchors without
    any positive are ignored. Returns a scalar loss.
    """
    if z.ndim != 2 or positions_um.ndim != 2 or z.shape[0] != positions_um.shape[0]:
        raise ValueError(
            f"spatial_contrastive_loss: z {tuple(z.shape)} and positions "
            f"{tuple(positions_um.shape)} must be (N, D) and (N, P) with the same N"
        )
    n = z.shape[0]
    z = F.normalize(z.float(), dim=1)
    logits = z @ z.t() / temperature
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    pos = positions_um.to(z.device).float()
    pos_mask = (torch.cdist(pos, pos) <= pos_radius_um) & ~eye
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    n_pos = pos_mask.sum(1)
    valid = n_pos > 0
    if not valid.any():
        raise ValueError(
            f"spatial_contrastive_loss: no pair of patches lies within {pos_radius_um} µm"
        )
    per_anchor = -(log_prob.masked_fill(~pos_mask, 0.0).sum(1)[valid]) / n_pos[valid]
    return per_anchor.mean()


def contrastive_step(
    encoder: nn.Module,
    patches: Tensor,
    positions_um: Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    pos_radius_um: float,
    temperature: float = 0.1,
    generator: torch.Generator | None = None,
) -> float:
    """One optimisation step of spatial contrastive pretraining; returns the loss.

    patches: ``(B,1,H,W)`` in [0, 1]; positions_um: ``(B, P)`` in µm. Each patch is seen
    as two augmented views (its own other view is always a positive); patches within
    ``pos_radius_um`` of each other are positives too.
    """
    encoder.train()
    dev = next(encoder.parameters()).device
    x = patches.to(dev)
    views = torch.cat([augment(x, generator=generator), augment(x, generator=generator)])
    pos = torch.cat([positions_um, positions_um]).to(dev)
    z = encoder(views) if not hasattr(encoder, "embed") else encoder.embed(views)
    loss = spatial_contrastive_loss(z, pos, pos_radius_um=pos_radius_um, temperature=temperature)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
