"""Errors of the readout: input that cannot be measured at all."""

from ..jobs import Cancelled


class MeasureError(ValueError):
    """A region that cannot be measured (no area, outside the section, not finite...)."""


#: The cancellation of measuring is the package-wide :class:`~cytowords.jobs.Cancelled`.
MeasureCancelled = Cancelled
