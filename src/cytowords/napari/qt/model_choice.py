"""Model + device chooser shared by the dock widgets (bundled default or a bundle folder, and
where the bundle's language model lives when it has moved)."""

from __future__ import annotations

from magicgui.widgets import FileEdit
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel

from ... import default_model_path
from .warm import imported, warm_imports

DEFAULT_MODEL = "bundled default"
FOLDER_MODEL = "bundle folder…"


def default_model_message() -> str | None:
    """None if the bundled default model is installed, else a message saying what to do."""
    path = default_model_path()
    if path.is_dir():
        return None
    return (
        f"The bundled default model is not installed ({path}). Choose a bundle folder "
        "(train one with `cytowords train --preset default --out DIR`)."
    )


class ModelChooser:
    """Rows "Model" (default / folder + folder picker + message) and "Device" for a form."""

    def __init__(self) -> None:
        self.combo = QComboBox()
        self.combo.addItems([DEFAULT_MODEL, FOLDER_MODEL])
        self.combo.setToolTip("The bundled default model, or the folder of a model bundle")
        self.path = FileEdit(mode="d", label="bundle")
        self.lm = FileEdit(mode="d", label="language model")
        self.lm.native.setToolTip(
            "Optional: the folder of the bundle's language model when the bundle refers to "
            "one outside itself and it has moved (its files are checked against the bundle)"
        )
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.device = QComboBox()
        # "cuda" is added when the model code (torch) is imported, in a background thread
        self.device.addItems(["auto", "cpu"])
        self.device.setToolTip("auto: CUDA when available, else CPU")
        self._devices_timer = QTimer(self.device)
        self._devices_timer.setInterval(250)
        self._devices_timer.timeout.connect(self._add_devices)
        if not self._add_devices():
            warm_imports("cytowords.model")
            self._devices_timer.start()
        self.combo.currentTextChanged.connect(self.update_message)
        self.path.changed.connect(self.update_message)
        self.update_message()

    def _add_devices(self) -> bool:
        """Offer the devices torch finds, once the model code is imported (True then)."""
        if not imported("cytowords.model"):
            return False
        from ...model import available_devices

        self._devices_timer.stop()
        have = [self.device.itemText(i) for i in range(self.device.count())]
        self.device.addItems([d for d in available_devices() if d not in have])
        return True

    def add_rows(self, form: QFormLayout) -> None:
        """Add the model and device rows to ``form``."""
        form.addRow("Model", self.combo)
        form.addRow("", self.path.native)
        form.addRow("", self.message)
        form.addRow("Language model", self.lm.native)
        form.addRow("Device", self.device)

    def value(self) -> str:
        """``"default"`` or the chosen bundle folder ("" when none chosen)."""
        if self.combo.currentText() == DEFAULT_MODEL:
            return "default"
        path = str(self.path.value)
        return "" if path in ("", ".") else path

    def lm_value(self) -> str:
        """The language model folder chosen, or ``""`` (as recorded in the bundle)."""
        path = str(self.lm.value)
        return "" if path in ("", ".") else path

    def device_value(self) -> str:
        """``"auto"``, ``"cpu"`` or ``"cuda"``."""
        return self.device.currentText()

    def set_value(self, model: str) -> None:
        """Choose ``"default"`` or a bundle folder."""
        if str(model) == "default":
            self.combo.setCurrentText(DEFAULT_MODEL)
        else:
            self.combo.setCurrentText(FOLDER_MODEL)
            self.path.value = str(model)
        self.update_message()

    def update_message(self, *_) -> None:
        """Show the folder picker for bundle folders and a note if the default is missing."""
        default = self.combo.currentText() == DEFAULT_MODEL
        self.path.native.setVisible(not default)
        msg = default_model_message() if default else None
        self.message.setText(f"<span style='color:#ff8a80'>{msg}</span>" if msg else "")
        self.message.setVisible(bool(msg))
