"""Small widget helpers shared by the views."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSplitter,
    QTableView,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)


def _read_only(table: QTableView, stretch_last: bool, compact: bool = False) -> None:
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.verticalHeader().setVisible(False)
    if compact:  # rows a line of text high (the style's default is about half as high again)
        table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeToContents)
    header.setStretchLastSection(stretch_last)


def read_only_table(headers: Sequence[str], *, stretch_last: bool = True, compact: bool = False) -> QTableWidget:
    """A table of whole rows, not editable, columns sized to their contents; ``compact``: rows one line high."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    _read_only(table, stretch_last, compact)
    return table


def read_only_view(model: QAbstractItemModel, *, stretch_last: bool = True, compact: bool = False) -> QTableView:
    """:func:`read_only_table`'s look for a table view over ``model``, sortable by clicking a header."""
    table = QTableView()
    table.setModel(model)
    _read_only(table, stretch_last, compact)
    table.setSortingEnabled(True)
    return table


def stacked(*widgets: QWidget, stretch_last: bool = True) -> QWidget:
    """Widgets one above the other without margins; the last one takes the spare height."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for i, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if stretch_last and i == len(widgets) - 1 else 0)
    return box


def fit_table_rows(splitter: QSplitter, table: QTableView, rows: int, share: float) -> None:
    """Give ``table`` (the splitter's first pane) the height of ``rows`` rows (at least 2), at most ``share`` of it.

    The pane after it gets the rest. Before the splitter is laid out, its initial sizes stand.
    """
    total = sum(splitter.sizes())
    if total <= 0:
        return
    wanted = (table.horizontalHeader().height() + max(rows, 2) * table.verticalHeader().defaultSectionSize()
              + 2 * table.frameWidth() + table.horizontalScrollBar().sizeHint().height())
    height = min(wanted, int(total * share))
    splitter.setSizes([height, total - height])
