"""A combo box listing the viewer's layers of one type, kept in sync with the layer list."""

from __future__ import annotations

from qtpy.QtWidgets import QComboBox


class LayerChoice:
    """``QComboBox`` of layers of ``layer_type``; :meth:`value` is the chosen layer or None."""

    def __init__(self, viewer, layer_type: type, parent=None) -> None:
        self.viewer = viewer
        self.layer_type = layer_type
        self.combo = QComboBox(parent)
        self._layers: list = []
        ev = viewer.layers.events
        ev.inserted.connect(self.refresh)
        ev.removed.connect(self.refresh)
        ev.reordered.connect(self.refresh)
        self.refresh()

    def _candidates(self) -> list:
        return [ly for ly in self.viewer.layers if isinstance(ly, self.layer_type)]

    def refresh(self, *_) -> None:
        """Re-list the layers, keeping the current choice when it still exists."""
        current = self.value()
        for ly in self._layers:
            ly.events.name.disconnect(self.refresh)
        self._layers = self._candidates()
        for ly in self._layers:
            ly.events.name.connect(self.refresh)
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems([ly.name for ly in self._layers])
        if current in self._layers:
            self.combo.setCurrentIndex(self._layers.index(current))
        elif self._layers:
            # default: the top-most layer of that type
            self.combo.setCurrentIndex(len(self._layers) - 1)
        self.combo.blockSignals(False)
        if self.value() is not current:
            self.combo.currentIndexChanged.emit(self.combo.currentIndex())

    def value(self):
        """The chosen layer (None when there is none)."""
        i = self.combo.currentIndex()
        return self._layers[i] if 0 <= i < len(self._layers) else None

    def set_value(self, layer) -> None:
        """Choose ``layer`` (must be in the viewer)."""
        self.refresh()
        if layer in self._layers:
            self.combo.setCurrentIndex(self._layers.index(layer))
