"""Errors of the readout: input that cannot be measured at all (cancelling raises the
package-wide :class:`cytowords.jobs.Cancelled`)."""


class MeasureError(ValueError):
    """A region that cannot be measured (no area, outside the section, not finite...)."""

