"""Errors of the readout: input that cannot be measured at all."""


class MeasureError(ValueError):
    """A region that cannot be measured (no area, outside the section, not finite...)."""


class MeasureCancelled(RuntimeError):
    """The caller's cancel flag was set while measuring."""
