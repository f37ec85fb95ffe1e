"""Results panel: a table of the ROIs of a Shapes layer with their descriptions.

Selecting a row selects the ROI in the layer and centres the view on it; captions can be
copied to the clipboard (button or right-click menu).
"""

from __future__ import annotations

from html import escape

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..io.layers import camera
from .results import ABSTAINED_LABEL, REJECTED_COLOR, REJECTED_LABEL, label_text

COLUMNS = ("ROI", "Area", "Prob.", "Status", "Caption")
#: the features the table's texts are made of (:func:`_row_values`)
TABLE_FEATURES = (
    "roi_id",
    "status",
    "probability",
    "rejected",
    "reason",
    "area",
    "caption",
    "name",
    "text_color",
)


def _reason(row: dict) -> str:
    """Why no area was named when it is not the model's verdict ("" otherwise)."""
    why = row.get("reason")
    return why if isinstance(why, str) else ""


def _status(row: dict) -> str:
    if row.get("status") == "done":
        if not bool(row.get("rejected")):
            return "accepted"
        return "abstained" if _reason(row) else "rejected"
    return str(row.get("status", ""))


def roi_label(row: int, r: dict) -> str:
    """The ROI's own name (a QuPath annotation's or an ImageJ ROI's), else ``ROI n``."""
    name = r.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else f"ROI {row + 1}"


def detail_text(row: int, r: dict) -> str:
    """Rich text describing ROI ``row`` (headed by its name): area, name, probability,
    rejection, caption and what the readout measured."""
    head = f"<b>{escape(roi_label(row, r))}</b>"
    if r.get("status") != "done":
        return f"{head}: {escape(_status(r) or 'not described yet')}"
    if bool(r.get("rejected")):
        label = ABSTAINED_LABEL if r.get("reason") else REJECTED_LABEL
        head += f" — <span style='color:{REJECTED_COLOR}'>{label}</span>"
    else:
        p = r.get("probability")
        pct = f", {100 * p:.0f}%" if p is not None and np.isfinite(p) else ""
        head += f" — <b>{escape(str(r.get('area')))}</b> ({escape(str(r.get('area_name')))}{pct})"
    caption = str(r.get("caption") or "") or "(the model gave no caption)"
    alt = str(r.get("alternatives") or "")
    if alt and alt != "nan":
        what = "nearest known areas" if bool(r.get("rejected")) else "next most probable"
        alt = f"<br><i>{what}: {escape(alt)}</i>"
    else:
        alt = ""
    why = _reason(r)
    note = str(r.get("note") or "")
    # the exported note starts with the reason; shown once, as the reason
    note = note.removeprefix(why).removeprefix("; ") if why else note
    note = f"<br><i>note: {escape(note)}</i>" if note and note != "nan" else ""
    if why:
        note = f"<br><b>no area named:</b> {escape(why)}{note}"
    measured = str(r.get("measured") or "")
    measured = f"<br>measured: {escape(measured)}" if measured and measured != "nan" else ""
    return f"{head}<br>{escape(caption)}{alt}{note}{measured}{fields_text(r)}"


def fields_text(r: dict) -> str:
    """How many of the ROI's model fields decided it (empty for results read from files)."""
    n, votes, acc = (int(r.get(k) or 0) for k in ("n_fields", "n_voting", "n_accepted"))
    if n <= 0:
        return ""
    other = n - votes
    skipped = f" ({other} read as white matter or background)" if other else ""
    return f"<br><i>fields: {n} read, {votes} voted{skipped}, {acc} accepted</i>"


HINT = "Select a ROI to read its description."


def _row_values(i: int, r: dict) -> tuple[str, ...]:
    """The table's texts of ROI ``i`` (one per column), then its area's colour ("" none)."""
    done = r.get("status") == "done"
    p = r.get("probability")
    prob = f"{100 * p:.0f}%" if done and p is not None and np.isfinite(p) else ""
    area = label_text(r).split(" ")[0] if done else ""
    if done and bool(r.get("rejected")):
        area = "✕ none"
    caption = str(r.get("caption") or "") if done else ""
    if not caption and done:
        caption = "(the model gave no caption)"
    elif r.get("status") == "stale":
        caption = label_text(r)
    label = roi_label(i, r)
    roi = f"{i + 1}" if label == f"ROI {i + 1}" else f"{i + 1} {label}"
    color = r.get("text_color")
    return (roi, area, prob, _status(r), caption, str(color) if color else "")


class ResultsPanel(QWidget):
    """Table of ROIs (one row per shape, in layer order) bound to a viewer.

    A result is shown (probability, caption, description, *Copy caption*) only while it is
    the ROI's current one (status ``done``): a ROI edited, queued or failed since shows its
    status instead, and the description below follows the selected ROI, not its row."""

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.layer = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        head = self.table.horizontalHeader()
        for c in range(len(COLUMNS) - 1):
            head.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        head.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.detail = QLabel(HINT)
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.detail.setMinimumHeight(60)
        self.detail.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.copy_btn = QPushButton("Copy caption")
        self.copy_btn.setToolTip("Copy the selected ROI's caption to the clipboard")
        self.copy_btn.clicked.connect(self.copy_caption)
        self.copy_all_btn = QPushButton("Copy all")
        self.copy_all_btn.setToolTip("Copy all results as tab-separated text")
        self.copy_all_btn.clicked.connect(self.copy_all)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_btn)
        buttons.addWidget(self.copy_all_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.detail, 1)
        lay.addLayout(buttons)
        self._syncing = False
        self._shown_id: int | None = None  # roi_id of the ROI whose description is shown
        self._shown: list[tuple[str, ...]] = []  # the table's texts and colour, row by row

    def set_layer(self, layer) -> None:
        """Show the ROIs of ``layer`` (a Shapes layer or None)."""
        if layer is not self.layer:
            self._shown_id = None
        self.layer = layer
        self.refresh()

    def rows(self) -> list[dict]:
        """The feature rows shown (one per shape)."""
        if self.layer is None or "roi_id" not in self.layer.features.columns:
            return []
        return self.layer.features.to_dict("records")

    def _table_rows(self) -> list[dict]:
        """The feature rows shown, with the columns the table reads (one per shape)."""
        if self.layer is None or "roi_id" not in self.layer.features.columns:
            return []
        df = self.layer.features
        return df[[c for c in TABLE_FEATURES if c in df.columns]].to_dict("records")

    def refresh(self) -> None:
        """Show the layer's features in the table (only the rows whose text changed are
        set again); the description below follows the ROI it showed (cleared when that
        ROI was deleted)."""
        rows = self._table_rows()
        self._syncing = True
        try:
            self.table.setRowCount(len(rows))
            del self._shown[len(rows) :]
            changed = []
            for i, r in enumerate(rows):
                values = _row_values(i, r)
                if i < len(self._shown) and self._shown[i] == values:
                    continue
                for c, v in enumerate(values[:-1]):
                    item = QTableWidgetItem(v)
                    if c == len(COLUMNS) - 1:
                        item.setToolTip(v)
                    if c == 1 and values[-1]:
                        item.setForeground(QColor(values[-1]))
                    self.table.setItem(i, c, item)
                if i < len(self._shown):
                    self._shown[i] = values
                else:
                    self._shown.append(values)
                changed.append(i)
            if len(changed) > len(rows) // 2:
                self.table.resizeRowsToContents()
            else:
                for i in changed:
                    self.table.resizeRowToContents(i)
            self._follow_shown(rows)
        finally:
            self._syncing = False

    def _follow_shown(self, rows: list[dict]) -> None:
        """Select the row of the ROI whose description is shown and show it as it is now
        (its status when it has no current result); the hint when it is gone."""
        ids = [r.get("roi_id") for r in rows]
        row = ids.index(self._shown_id) if self._shown_id in ids else None
        if row is None:
            self._shown_id = None
            self.table.clearSelection()
            self.detail.setText(HINT)
            return
        if self.selected_row() != row:
            self.table.selectRow(row)
        self.detail.setText(detail_text(row, self.layer.features.iloc[row].to_dict()))

    def selected_row(self) -> int | None:
        """Index of the selected table row (= shape index), or None."""
        sel = self.table.selectionModel().selectedRows()
        return sel[0].row() if sel else None

    def select_row(self, row: int) -> None:
        """Select table row ``row`` (and its ROI, centred)."""
        self.table.selectRow(row)

    def _on_row_selected(self) -> None:
        if self._syncing or self.layer is None:
            return
        row = self.selected_row()
        if row is None or row >= len(self.layer.data):
            return
        self.layer.selected_data = {row}
        r = self.rows()[row]
        self._shown_id = r.get("roi_id")
        self.detail.setText(detail_text(row, r))
        verts = np.asarray(self.layer.data[row], dtype=float)[:, -2:]
        world = verts * np.asarray(self.layer.scale[-2:]) + np.asarray(self.layer.translate[-2:])
        lo, hi = world.min(axis=0), world.max(axis=0)
        camera(self.viewer).center = tuple((lo + hi) / 2.0)

    def caption_of(self, row: int) -> str:
        """Caption text of shape ``row`` ("" unless it is the ROI's current result)."""
        rows = self.rows()
        if not 0 <= row < len(rows) or rows[row].get("status") != "done":
            return ""
        return str(rows[row].get("caption") or "")

    def copy_caption(self) -> str:
        """Copy the selected ROI's caption to the clipboard; returns the text."""
        row = self.selected_row()
        text = self.caption_of(row) if row is not None else ""
        QApplication.clipboard().setText(text)
        return text

    def copy_all(self) -> str:
        """Copy every row (ROI, area, probability, status, caption) tab-separated."""
        lines = ["\t".join(COLUMNS)]
        for i in range(self.table.rowCount()):
            lines.append("\t".join(self.table.item(i, c).text() for c in range(len(COLUMNS))))
        text = "\n".join(lines)
        QApplication.clipboard().setText(text)
        return text

    def _context_menu(self, pos) -> None:
        menu = QMenu(self)
        menu.addAction("Copy caption", self.copy_caption)
        menu.addAction("Copy all results", self.copy_all)
        menu.exec_(self.table.viewport().mapToGlobal(pos))
