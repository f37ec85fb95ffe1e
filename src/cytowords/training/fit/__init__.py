"""Generic, data-agnostic training loops (resumable, with progress and cancellation).

Each takes tensors or a ``batches(step)`` callable, ``on_progress(done, total)`` and a
``cancel`` event, writes checkpoints (safetensors + JSON) to ``checkpoint_dir`` and
returns a :class:`FitResult` with per-step losses.
"""

from cytowords.training.fit.captioner_fit import fit_captioner
from cytowords.training.fit.head_fit import fit_head, fit_scorer
from cytowords.training.fit.loop import FitResult
from cytowords.training.fit.pretrain import pretrain_encoder, pretrain_encoder_supervised

__all__ = [
    "FitResult",
    "fit_captioner",
    "fit_head",
    "fit_scorer",
    "pretrain_encoder",
    "pretrain_encoder_supervised",
]
