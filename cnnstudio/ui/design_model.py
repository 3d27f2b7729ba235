"""The design editor's table model: one row per layer of a design, every edit one undoable command.

:func:`analyse` (plain Python over the core's layer specs) says what each row makes — output shape,
parameters, MACs — for the current options and images, and which row makes the network impossible
and why. :class:`DesignTableModel` shows the layers and their results; every change (``setData``
from an in-place editor, insert, delete, duplicate, move, replace) is pushed on its
``QUndoStack`` as one :class:`DesignEdit` holding the layer lists before and after.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QUndoCommand, QUndoStack

from cnnstudio.core.network.design import FIELDS, GLOBAL, KIND_TITLES, DesignError, LayerEntry
from cnnstudio.core.network.design_analysis import Analysis, RowResult

Index = QModelIndex | QPersistentModelIndex

# editable columns (LayerEntry fields) and the computed ones: what each row makes comes right after its kind and
# name, so it stays in sight at the window's default width ahead of the mostly empty per-kind settings
FIELD_COLUMNS = ("kind", "name", "filters", "kernel", "size", "stride", "padding", "pooling", "pixels", "units", "rate",
                 "activation")
HEADERS = {"kind": "Layer", "name": "Name", "filters": "Filters", "kernel": "Kernel", "size": "Size", "stride": "Stride",
           "padding": "Padding", "pooling": "Pooling", "pixels": "Pixels", "units": "Units", "rate": "Rate",
           "activation": "Activation", "output": "Output shape", "params": "Parameters", "macs": "MACs"}
COMPUTED_COLUMNS = ("output", "params", "macs")
COLUMNS = (*FIELD_COLUMNS[:2], *COMPUTED_COLUMNS, *FIELD_COLUMNS[2:])
TIPS = {
    "kind": "What the layer does; changing it starts the layer's settings afresh.",
    "name": "The Keras layer name (empty: kind and number, e.g. conv2).",
    "filters": "Feature maps the convolution makes.", "kernel": "The convolution's window (pixels, square).",
    "size": "Pooling: the window; resize: the side the input images are resized to.",
    "stride": "Step between windows (auto: 1 for a convolution, the window for pooling).",
    "padding": "option: follow the experiment panel's padding; valid: no border; same: keep the size; N px: a zero border.",
    "pooling": "option: follow the experiment panel's pooling type.", "pixels": "Width of the zero border.",
    "units": "Neurons of the dense layer.", "rate": "Fraction of units dropped while training.",
    "activation": "option: follow the experiment panel's activation.",
}
FOLLOW = "option"  # follow the experiment panel's choice
NEW_LAYER: dict[str, dict[str, Any]] = {  # the settings a new layer of each kind starts with
    "conv": {"filters": 16, "kernel": 3}, "pool": {"size": 2}, "pad": {"pixels": 2}, "dropout": {"rate": 0.5},
    "dense": {"units": 64}, "resize": {"size": 32},
}
PROBLEM_BRUSH = QBrush(QColor("#fdecea"))
UNUSED_BRUSH = QBrush(QColor("#f3f3f3"))


def new_layer(kind: str, name: str | None = None) -> LayerEntry:
    """A layer of ``kind`` with sensible first settings."""
    return LayerEntry(kind, name=name, **NEW_LAYER.get(kind, {}))


class DesignEdit(QUndoCommand):
    """One edit of the layer list: the lists before and after, and the row to select afterwards.

    ``names`` (before, after) when the edit renames the design too (Start From, Open): undo gives the
    old name back with the old layers.
    """

    def __init__(self, model: DesignTableModel, text: str, before: tuple[LayerEntry, ...],
                 after: tuple[LayerEntry, ...], row_after: int | None, row_before: int | None,
                 names: tuple[str, str] | None = None):
        super().__init__(text)
        self.model, self.before, self.after = model, before, after
        self.row_after, self.row_before = row_after, row_before
        self.names = names

    def redo(self) -> None:
        if self.names is not None:
            self.model.renamed.emit(self.names[1])
        self.model.set_layers(self.after, self.row_after)

    def undo(self) -> None:
        if self.names is not None:
            self.model.renamed.emit(self.names[0])
        self.model.set_layers(self.before, self.row_before)


def _display(field: str, value: Any) -> str:
    if value is None:
        return "auto" if field == "stride" else ""
    if value == GLOBAL:
        return FOLLOW
    if field == "kind":
        return KIND_TITLES.get(value, value)
    if field == "padding" and str(value).isdigit():
        return f"{value} px"
    if field == "rate":
        return f"{value:g}"
    return str(value)


class DesignTableModel(QAbstractTableModel):
    """The layers of the design being edited, with each one's computed output, parameters and MACs."""

    layers_changed = Signal()  # after every change of the layer list (edits, undo, redo)
    renamed = Signal(str)  # an edit that renames the design was done or undone: show this name
    refused = Signal(str)  # an edit that was not taken, and why (one line)
    select_row = Signal(int)  # a command wants this row selected

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.layers: tuple[LayerEntry, ...] = ()
        self.analysis = Analysis(None, ())
        self.undo_stack = QUndoStack(self)

    # reading -------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self.layers)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.DisplayRole:
                return HEADERS[COLUMNS[section]]
            if role == Qt.ToolTipRole:
                return TIPS.get(COLUMNS[section], "Computed for the current options and dataset.")
        if orientation == Qt.Vertical and role == Qt.DisplayRole:
            return str(section + 1)
        return None

    def uses(self, row: int, field: str) -> bool:
        return field in ("kind", "name") or field in FIELDS[self.layers[row].kind]

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.NoItemFlags
        flags = Qt.ItemIsEnabled | Qt.ItemIsSelectable
        field = COLUMNS[index.column()]
        if field in FIELD_COLUMNS and self.uses(index.row(), field):
            flags |= Qt.ItemIsEditable
        return flags

    def data(self, index: Index, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, field = index.row(), COLUMNS[index.column()]
        entry = self.layers[row]
        result = self.analysis.rows[row] if row < len(self.analysis.rows) else RowResult()
        problem = self.analysis.problem if self.analysis.problem_row == row else None
        if role == Qt.EditRole and field in FIELD_COLUMNS:
            return getattr(entry, field)
        if role == Qt.DisplayRole:
            if field in FIELD_COLUMNS:
                return _display(field, getattr(entry, field)) if self.uses(row, field) else ""
            if field == "output":
                return "impossible" if problem else result.output
            value = getattr(result, field)
            return f"{value:,}" if value else ("–" if result.output else "")
        if role == Qt.TextAlignmentRole and field in ("params", "macs"):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.BackgroundRole:
            if problem:
                return PROBLEM_BRUSH
            if field in FIELD_COLUMNS and not self.uses(row, field):
                return UNUSED_BRUSH
        if role == Qt.ForegroundRole and (problem and field == "output" or result.skipped and field == "output"):
            return QBrush(QColor("#b00020" if problem else "#777777"))
        if role == Qt.ToolTipRole:
            if problem:
                return problem
            if result.skipped:
                return "The current options leave this layer out (e.g. a dropout rate of 0)."
            return TIPS.get(field)
        return None

    # the design ----------------------------------------------------------------------------
    def set_analysis(self, analysis: Analysis) -> None:
        self.analysis = analysis
        if self.layers:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.layers) - 1, len(COLUMNS) - 1))

    def set_layers(self, layers: tuple[LayerEntry, ...], select: int | None = None) -> None:
        """Show ``layers`` (commands call this; user edits go through :meth:`edit`)."""
        self.beginResetModel()
        self.layers = tuple(layers)
        self.analysis = Analysis(None, tuple(RowResult() for _ in self.layers))
        self.endResetModel()
        self.layers_changed.emit()
        if select is not None and self.layers:
            self.select_row.emit(min(max(select, 0), len(self.layers) - 1))

    def edit(self, text: str, layers: Sequence[LayerEntry], select: int | None = None,
             select_before: int | None = None, names: tuple[str, str] | None = None) -> None:
        """Change the layer list (and with ``names``, the design's name) as one undoable command."""
        layers = tuple(layers)
        if layers != self.layers or (names is not None and names[0] != names[1]):
            self.undo_stack.push(DesignEdit(self, text, self.layers, layers, select, select_before, names))

    def setData(self, index: Index, value: Any, role: int = Qt.EditRole) -> bool:  # noqa: N802
        if role != Qt.EditRole or not index.isValid() or not self.flags(index) & Qt.ItemIsEditable:
            return False
        row, field = index.row(), COLUMNS[index.column()]
        entry = self.layers[row]
        try:
            if field == "kind":
                if value == entry.kind:
                    return True
                named_by_kind = entry.name is not None and re.fullmatch(rf"{entry.kind}\d*", entry.name)
                changed = new_layer(value, None if named_by_kind else entry.name)  # 'flatten' must not name a gap
            else:
                if field == "name":
                    value = str(value).strip() or None
                changed = dataclasses.replace(entry, **{field: value})
                if field == "name" and value is not None:
                    self._refuse_a_taken_name(row, changed)
        except (DesignError, TypeError, ValueError) as exc:
            self.refused.emit(f"layer {row + 1}: {getattr(exc, 'reason', exc)}")
            return False
        layers = list(self.layers)
        layers[row] = changed
        self.edit(f"set {HEADERS[field].lower()} of layer {row + 1}", layers, row, row)
        return True

    def _refuse_a_taken_name(self, row: int, changed: LayerEntry) -> None:
        """A ``DesignError`` when another layer is already called ``changed.name`` (layers named by their kind
        and number, conv2, are numbered anew around it, so only names given by hand can clash)."""
        for i, entry in enumerate(self.layers):
            if i != row and entry.name is not None and entry.name.lower() == str(changed.name).lower():
                raise DesignError(f"the name {entry.name!r} is taken by layer {i + 1}", row + 1, changed.kind, "name")

    # list operations ---------------------------------------------------------------------------
    def insert(self, row: int, entry: LayerEntry) -> None:
        row = min(max(row, 0), len(self.layers))
        layers = [*self.layers[:row], entry, *self.layers[row:]]
        self.edit(f"insert {KIND_TITLES[entry.kind]} at {row + 1}", layers, row, row - 1 if row else 0)

    def remove(self, row: int) -> None:
        if 0 <= row < len(self.layers):
            layers = [*self.layers[:row], *self.layers[row + 1:]]
            self.edit(f"delete layer {row + 1}", layers, min(row, len(layers) - 1), row)

    def duplicate(self, row: int) -> None:
        if 0 <= row < len(self.layers):
            copy = dataclasses.replace(self.layers[row], name=None)  # names must stay unique
            layers = [*self.layers[:row + 1], copy, *self.layers[row + 1:]]
            self.edit(f"duplicate layer {row + 1}", layers, row + 1, row)

    def move(self, row: int, step: int) -> None:
        target = row + step
        if 0 <= row < len(self.layers) and 0 <= target < len(self.layers):
            layers = list(self.layers)
            layers[row], layers[target] = layers[target], layers[row]
            self.edit(f"move layer {row + 1} {'up' if step < 0 else 'down'}", layers, target, row)

    def replace_all(self, text: str, layers: Sequence[LayerEntry], names: tuple[str, str] | None = None) -> None:
        self.edit(text, layers, 0, 0, names)
