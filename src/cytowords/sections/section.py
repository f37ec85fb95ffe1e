"""The :class:`Section` container: a multiscale 2D grayscale image with physical pixel size.

A section is what every other layer of cytowords works on: a list of dask arrays (level 0
finest, each level ``(rows, cols)`` = ``(y, x)``), the isotropic pixel size of every level in
micrometres, a name, free metadata and optional label images (same multiscale convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np


@dataclass
class LabelImage:
    """A multiscale integer label image aligned with a section.

    ``levels[i]`` has pixel size ``pixel_size_um[i]`` (µm); ``names`` maps label value -> text
    (e.g. area id) and ``colors`` maps label value -> ``#rrggbb``. Value 0 is background.
    """

    levels: list[da.Array]
    pixel_size_um: list[float]
    names: dict[int, str] = field(default_factory=dict)
    colors: dict[int, str] = field(default_factory=dict)

    def read_window(
        self, y0_um: float, x0_um: float, h_um: float, w_um: float, pixel_size_um: float
    ) -> np.ndarray:
        """Label values of a µm window sampled at ``pixel_size_um`` (nearest neighbour).

        Same geometry as :meth:`Section.read_window`; outside the image reads 0.
        """
        from .window import read_label_window

        return read_label_window(
            self.levels, self.pixel_size_um, y0_um, x0_um, h_um, w_um, pixel_size_um
        )


@dataclass
class Section:
    """A multiscale grayscale section.

    Attributes:
        levels: dask arrays ``(y, x)``, level 0 finest, each coarser level smaller.
        pixel_size_um: isotropic pixel size (µm per pixel) of each level.
        name: human-readable name (usually the file stem).
        metadata: free-form metadata (source path, NGFF version, generator seed...).
        labels: named label images aligned with the section (e.g. ``"areas"``).
    """

    levels: list[da.Array]
    pixel_size_um: list[float]
    name: str = "section"
    metadata: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, LabelImage] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError(f"section {self.name!r}: no pyramid levels")
        if len(self.levels) != len(self.pixel_size_um):
            raise ValueError(
                f"section {self.name!r}: {len(self.levels)} levels but "
                f"{len(self.pixel_size_um)} pixel sizes"
            )
        for i, lev in enumerate(self.levels):
            if lev.ndim != 2:
                raise ValueError(
                    f"section {self.name!r}: level {i} has shape {lev.shape}; expected a 2D "
                    "grayscale (y, x) array"
                )

    @property
    def shape_um(self) -> tuple[float, float]:
        """Physical extent ``(height, width)`` of the section in µm."""
        h, w = self.levels[0].shape
        p = self.pixel_size_um[0]
        return (h * p, w * p)

    @property
    def dtype(self) -> np.dtype:
        """Pixel data type (the same for all levels)."""
        return self.levels[0].dtype

    def level_for(self, pixel_size_um: float) -> int:
        """Index of the coarsest level whose pixels are not coarser than ``pixel_size_um``.

        Reading from that level and resampling down to the requested resolution never
        loses detail; if even level 0 is coarser, level 0 is returned.
        """
        from .window import _level_for

        return _level_for(self.pixel_size_um, pixel_size_um)

    def read_window(
        self,
        y0_um: float,
        x0_um: float,
        h_um: float,
        w_um: float,
        pixel_size_um: float,
        *,
        fill: float = 0.0,
        model_view: bool = False,
    ) -> np.ndarray:
        """Read the window ``[y0, y0+h) × [x0, x0+w)`` (µm) resampled to ``pixel_size_um``.

        Coordinates are µm from the top-left corner of the section (pixel ``(i, j)`` of a
        level with pixel size ``p`` covers ``[i*p, (i+1)*p)``). The result is a float32 array
        of ``round(h_um / pixel_size_um) × round(w_um / pixel_size_um)`` px, read from the
        coarsest level not coarser than the request (only the chunks needed) and resampled by
        exact area averaging (no aliasing). Parts outside the section read as ``fill``.
        When the request equals a level's pixel size and the origin lies on its pixel grid,
        the values are that level's pixels exactly.

        ``model_view``: read as the model's fields are (:mod:`.fields`, dense maps): a level
        stored JPEG-compressed (``metadata["lossy_levels"]``) is read only when the window
        is at least :data:`~.window.LOSSY_MIN_FACTOR` times coarser, from a finer level
        where one is stored, so that its 8 × 8 px blocks average out.
        """
        from .window import read_window

        lossy = self.metadata.get("lossy_levels", ()) if model_view else ()
        return read_window(
            self.levels,
            self.pixel_size_um,
            y0_um,
            x0_um,
            h_um,
            w_um,
            pixel_size_um,
            fill=fill,
            lossy=lossy,
            where=str(self.metadata.get("source") or self.name),
        )
