"""The Design tab: the network's layers as an editable table, with undo, presets to start from and files.

The view shows a :class:`DesignTableModel` and sends intentions: every edit goes through the model
(one undoable command each); *Start from*, *Open…* and *Save As…* are signals the window answers.
Each row shows what it makes under the current options (output shape, parameters, MACs), right after
its kind and name; an impossible row is red and the line under the table names it and the sizes. An
edit that was refused says why in that box for a few seconds, above the current problem, until the
next edit or selection.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.config import ACTIVATION_LABELS, POOLING_LABELS
from cnnstudio.core.network.design import (
    BOUNDS,
    CONV_PADDINGS,
    DESIGN_NAME_PATTERN,
    GLOBAL,
    KIND_TITLES,
    KINDS,
    POOL_PADDINGS,
    Design,
    LayerEntry,
)
from cnnstudio.core.network.design_presets import PRESETS
from cnnstudio.ui.architecture_view import PROBLEM_STYLE
from cnnstudio.ui.design_model import COLUMNS, FOLLOW, Analysis, DesignTableModel, new_layer

Index = QModelIndex | QPersistentModelIndex
CONV_BORDERS = (1, 2, 3, 4, 5)  # explicit zero borders offered for a convolution (N px)
NOTE_STYLE = "QLabel { color: #333333; padding: 4px; }"
REFUSED_MS = 6000  # how long a refused edit's reason stays before the box shows the current analysis again


def _choices(field: str, kind: str) -> list[tuple[str, Any]]:
    """The combo box items (label, value) of a choice field."""
    if field == "kind":
        return [(KIND_TITLES[k], k) for k in KINDS]
    if field == "padding":
        items = [(FOLLOW if p == GLOBAL else p, p) for p in (CONV_PADDINGS if kind == "conv" else POOL_PADDINGS)]
        return items + ([(f"{n} px", str(n)) for n in CONV_BORDERS] if kind == "conv" else [])
    labels = POOLING_LABELS if field == "pooling" else ACTIVATION_LABELS
    return [(FOLLOW, GLOBAL), *((label, value) for value, label in labels.items())]


class LayerDelegate(QStyledItemDelegate):
    """Typed in-place editors: spin boxes with each field's range, combo boxes for choices, text for names."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:  # noqa: N802
        field = COLUMNS[index.column()]
        kind = index.model().index(index.row(), 0).data(Qt.EditRole)
        if field in ("kind", "padding", "pooling", "activation"):
            combo = QComboBox(parent)
            for label, value in _choices(field, kind):
                combo.addItem(label, value)
            return combo
        if field == "rate":
            spin = QDoubleSpinBox(parent)
            spin.setRange(0.0, 0.95)
            spin.setSingleStep(0.05)
            return spin
        if field in BOUNDS:
            spin = QSpinBox(parent)
            low, high = BOUNDS[field]
            spin.setRange(8 if field == "size" and kind == "resize" else low, high)
            if field == "stride":  # None: 1 for a convolution, the window for pooling
                spin.setRange(0, high)
                spin.setSpecialValueText("auto")
            return spin
        line = QLineEdit(parent)
        line.setPlaceholderText("automatic")
        return line

    def setEditorData(self, editor: QWidget, index: Index) -> None:  # noqa: N802
        value = index.data(Qt.EditRole)
        if isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(editor.findData(value), 0))
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value or 0)
        elif isinstance(editor, QLineEdit):
            editor.setText(value or "")

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: Index) -> None:  # noqa: N802
        if isinstance(editor, QComboBox):
            value: Any = editor.currentData()
        elif isinstance(editor, QDoubleSpinBox):
            value = round(editor.value(), 3)
        elif isinstance(editor, QSpinBox):
            value = editor.value() or (None if COLUMNS[index.column()] == "stride" else 0)
        else:
            value = editor.text()
        if value != index.data(Qt.EditRole):
            model.setData(index, value, Qt.EditRole)


class DesignView(QWidget):
    """Edit a design's layers; what each makes is shown from :meth:`show_analysis`."""

    layers_changed = Signal()  # the layer list or the design's name changed (edits, undo, redo)
    start_from_requested = Signal(str)  # a preset's name: replace the layers by its layers
    open_requested = Signal()
    save_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = DesignTableModel(self)
        self.undo_stack = self.model.undo_stack
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegate(LayerDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.SelectedClicked
                                   | QAbstractItemView.EditKeyPressed | QAbstractItemView.AnyKeyPressed)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 10)

        self.name = QLineEdit("custom")
        self.name.setMaxLength(60)
        self.name.setToolTip("The design's name (letters, digits, spaces, '_', '-', '.'): it names the model and runs.")
        self.name.editingFinished.connect(self.layers_changed)
        self.model.renamed.connect(self.name.setText)  # before layers_changed: the new name is read with them
        self.preset = QComboBox()
        for name, info in PRESETS.items():
            self.preset.addItem(info.title, name)
            self.preset.setItemData(self.preset.count() - 1, info.description, Qt.ToolTipRole)
        self.start_button = QPushButton("Start From")
        self.start_button.setToolTip("Replace the layers by the chosen preset's layers (for the current dataset's "
                                     "images), to edit them; Undo brings the old ones back.")
        self.start_button.clicked.connect(lambda: self.start_from_requested.emit(str(self.preset.currentData())))
        self.open_button, self.save_button = QToolButton(), QToolButton()
        self.open_button.setText("Open…")
        self.save_button.setText("Save As…")
        self.open_button.setToolTip("Open a design file (.cnn.json).")
        self.save_button.setToolTip("Save these layers as a design file (.cnn.json).")
        self.open_button.clicked.connect(self.open_requested)
        self.save_button.clicked.connect(self.save_requested)
        self.name.setMinimumWidth(80)
        top = QHBoxLayout()
        top.addWidget(QLabel("Design"))
        top.addWidget(self.name, 1)
        top.addSpacing(8)
        top.addWidget(self.preset)
        top.addWidget(self.start_button)
        top.addSpacing(8)
        top.addWidget(self.open_button)
        top.addWidget(self.save_button)

        self.new_kind = QComboBox()
        for kind in KINDS:
            self.new_kind.addItem(KIND_TITLES[kind], kind)
        self.new_kind.setToolTip("The kind of layer Add and Insert make.")
        self.buttons: dict[str, QToolButton] = {}
        edits = QHBoxLayout()
        edits.addWidget(self.new_kind)
        for key, text, tip, slot in (
                ("add", "Add", "Add a layer of this kind after the selected one (at the end when none is).", self.add),
                ("insert", "Insert", "Insert a layer of this kind before the selected one.", self.insert),
                ("duplicate", "Duplicate", "Copy the selected layer below it.", self.duplicate),
                ("delete", "Delete", "Delete the selected layer.", self.delete),
                ("up", "Up", "Move the selected layer up.", lambda: self.move(-1)),
                ("down", "Down", "Move the selected layer down.", lambda: self.move(1))):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self.buttons[key] = button
            edits.addWidget(button)
        edits.addStretch(1)
        self.undo_button, self.redo_button = QToolButton(), QToolButton()
        self.undo_button.setText("Undo")
        self.redo_button.setText("Redo")
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.redo_button.clicked.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_stack.undoTextChanged.connect(lambda text: self.undo_button.setToolTip(f"Undo {text}"))
        self.undo_stack.redoTextChanged.connect(lambda text: self.redo_button.setToolTip(f"Redo {text}"))
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        edits.addWidget(self.undo_button)
        edits.addWidget(self.redo_button)

        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.setTextFormat(Qt.PlainText)  # reasons quote what was typed
        self.problem.hide()
        self._analysis_problem = ""  # the current analysis' problem, shown again once a refusal's reason goes
        self._refusal = ""  # why the last edit was not taken, while it is shown
        self._refusal_timer = QTimer(self)
        self._refusal_timer.setSingleShot(True)
        self._refusal_timer.setInterval(REFUSED_MS)
        self._refusal_timer.timeout.connect(self.clear_refusal)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(NOTE_STYLE)
        self.hint = QLabel("The output layer (dense, softmax, one unit per class) is added after these layers. "
                           "'option' follows the experiment panel's padding, pooling or activation.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("QLabel { color: #666666; }")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(edits)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.note)
        layout.addWidget(self.hint)

        self.model.layers_changed.connect(self._layers_changed)
        self.model.select_row.connect(self.select)
        self.model.refused.connect(self._refused)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self._update_buttons()

    # reading -------------------------------------------------------------------------------
    @property
    def layers(self) -> tuple[LayerEntry, ...]:
        return self.model.layers

    def design_name(self) -> str:
        """The name typed, or 'custom' when it is not a usable design name."""
        name = self.name.text().strip()
        return name if DESIGN_NAME_PATTERN.fullmatch(name) else "custom"

    def current_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    # intentions handled here (each one undoable command) ----------------------------------------
    def add(self) -> None:
        row = self.current_row()
        self.model.insert(row + 1 if row >= 0 else len(self.layers), new_layer(self.new_kind.currentData()))

    def insert(self) -> None:
        self.model.insert(max(self.current_row(), 0), new_layer(self.new_kind.currentData()))

    def duplicate(self) -> None:
        self.model.duplicate(self.current_row())

    def delete(self) -> None:
        self.model.remove(self.current_row())

    def move(self, step: int) -> None:
        self.model.move(self.current_row(), step)

    def select(self, row: int) -> None:
        self.table.selectRow(row)

    # shown state ------------------------------------------------------------------------------
    def show_design(self, design: Design, text: str, undoable: bool = True) -> None:
        """Replace the layers by ``design``'s (one undoable command; ``undoable=False`` also forgets the history)."""
        if undoable:
            self.model.replace_all(text, design.layers, (self.name.text(), design.name))
        else:
            self.name.setText(design.name)
            self.undo_stack.clear()
            self.model.set_layers(design.layers, 0)

    def show_analysis(self, analysis: Analysis, note: str = "") -> None:
        """What each row makes now, the impossible row's reason (or none), and a note (cost, dataset)."""
        self.model.set_analysis(analysis)
        self._analysis_problem = analysis.problem or ""
        self.note.setText(note)
        self._show_problem()

    def show_note(self, text: str) -> None:
        """A line under the table: the network's cost, or why these layers are not in use."""
        self.note.setText(text)

    def clear_refusal(self) -> None:
        """Back to the current analysis' problem (if any) after a refused edit's reason."""
        self._refusal_timer.stop()
        if self._refusal:
            self._refusal = ""
            self._show_problem()

    def _show_problem(self) -> None:
        """A refused edit's reason (while shown) above the analysis' problem: the latter is never hidden."""
        lines = [f"Not changed: {self._refusal}"] if self._refusal else []
        lines += [self._analysis_problem] if self._analysis_problem else []
        self.problem.setText("\n".join(lines))
        self.problem.setVisible(bool(lines))

    def _layers_changed(self) -> None:
        self.clear_refusal()
        self._update_buttons()
        self.layers_changed.emit()

    def _selection_changed(self) -> None:
        self.clear_refusal()
        self._update_buttons()

    def _refused(self, reason: str) -> None:
        self._refusal = reason
        self._refusal_timer.start()
        self._show_problem()

    def _update_buttons(self) -> None:
        row, count = self.current_row(), len(self.layers)
        for key in ("duplicate", "delete"):
            self.buttons[key].setEnabled(row >= 0)
        self.buttons["up"].setEnabled(row > 0)
        self.buttons["down"].setEnabled(0 <= row < count - 1)
        self.save_button.setEnabled(count > 0)
