"""The Design tab (pytest-qt): building LeNet-5 from nothing through the model/view, undo and redo, an impossible
row that disables Train and names the layer, the diagram following the design, design files."""

from __future__ import annotations

import json

from gui_helpers import WAIT_MS, set_options
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QSpinBox, QStyleOptionViewItem

from cnnstudio.core.network.design import LayerEntry
from cnnstudio.ui.design_model import COLUMNS

LENET5 = [("pad", {"pixels": 2}), ("conv", {"filters": 6, "kernel": 5}), ("pool", {"size": 2}),
          ("conv", {"filters": 16, "kernel": 5}), ("pool", {"size": 2}), ("flatten", {}), ("dense", {"units": 120}),
          ("dense", {"units": 84})]


def _build_lenet5(view) -> None:
    """Append each layer with Add and set its values: through the delegate's editor for units, else setData."""
    model, delegate = view.model, view.table.itemDelegate()
    for row, (kind, values) in enumerate(LENET5):
        view.new_kind.setCurrentIndex(view.new_kind.findData(kind))
        view.add()
        assert view.current_row() == row
        for field, value in values.items():
            index = model.index(row, COLUMNS.index(field))
            if field == "units":  # the typed in-place editor: a spin box with the field's range
                editor = delegate.createEditor(view.table.viewport(), QStyleOptionViewItem(), index)
                assert isinstance(editor, QSpinBox) and editor.minimum() == 1 and editor.maximum() == 65_536
                delegate.setEditorData(editor, index)
                editor.setValue(value)
                delegate.setModelData(editor, model, index)
            else:
                assert model.setData(index, value)
    assert [e.kind for e in view.layers] == [kind for kind, _ in LENET5]


def _params(window) -> int | None:
    shown = window.architecture_view.shown
    return None if shown is None else shown.params


def test_lenet5_built_from_nothing_has_61706_parameters_and_undo_redo_restore_each_state(qtbot, make_window):
    window = make_window(wait_for_backend=False)
    set_options(window)  # digits: 28×28 gray, 10 classes
    view = window.design_view
    assert view.layers == () and not window.panel.uses_design()
    states = [view.layers]
    view.model.layers_changed.connect(lambda: states.append(view.layers))
    _build_lenet5(view)
    assert window.panel.uses_design()  # editing puts the design in use
    qtbot.waitUntil(lambda: _params(window) == 61_706, timeout=WAIT_MS)
    assert window.panel.experiment().model.design.layers == view.layers
    rows = view.model.analysis.rows
    assert [r.output for r in rows] == ["32 × 32 × 1", "28 × 28 × 6", "14 × 14 × 6", "10 × 10 × 16", "5 × 5 × 16",
                                        "400", "120", "84"]
    assert [r.params for r in rows] == [0, 156, 0, 2_416, 0, 0, 48_120, 10_164]
    assert rows[1].macs == 117_600 and view.model.analysis.problem is None

    commands = view.undo_stack.count()
    assert commands == len(states) - 1 == 13  # one per insert and per changed value (equal values change nothing)
    history = list(states)
    for expected in reversed(history[:-1]):  # each undo brings back the state before
        window.undo_action.trigger()
        assert view.layers == expected
    assert view.layers == () and not view.undo_stack.canUndo()
    for expected in history[1:]:
        window.redo_action.trigger()
        assert view.layers == expected
    qtbot.waitUntil(lambda: _params(window) == 61_706, timeout=WAIT_MS)
    assert window.undo_action.shortcut() == QKeySequence(QKeySequence.Undo)
    assert window.redo_action.shortcut() == QKeySequence(QKeySequence.Redo)


def test_list_operations_are_single_commands(qtbot, make_window):
    window = make_window(wait_for_backend=False)
    set_options(window)
    view, model = window.design_view, window.design_view.model
    assert window.panel.arch.toolTip() == "The network's layout. Hover an entry for its description."
    name_before = view.name.text()
    window.start_design_from("lenet5")
    start = view.layers
    assert view.name.text() == "my_lenet5" and len(start) == 10
    # what Train builds now is said where the user looks: the status bar and the greyed architecture
    assert window.statusBar().currentMessage().startswith("Train now builds the design 'my_lenet5'")
    assert not window.panel.arch.isEnabled() and window.panel.arch.toolTip().startswith(
        "Not used: Train builds the design 'my_lenet5'.")
    window.panel.use_design.click()  # unticked: the status bar no longer says the design is built
    assert window.statusBar().currentMessage() == "Train now builds the LeNet-5 preset (the Design tab keeps its layers)"
    window.panel.use_design.click()  # ticked again: nor that the preset is
    assert window.statusBar().currentMessage() == "Train now builds the design 'my_lenet5'"
    view.select(1)
    view.duplicate()
    assert view.layers[2] == LayerEntry("conv", filters=6, kernel=5) and view.current_row() == 2
    view.move(-1)
    assert view.current_row() == 1 and view.layers[1].name is None
    view.delete()
    view.insert()  # a layer of the chosen kind before the selected one
    assert len(view.layers) == 11
    for _ in range(4):
        view.undo_stack.undo()
    assert view.layers == start
    view.undo_stack.undo()  # before "start from": the old name comes back with the old layers
    assert view.layers == () and view.name.text() == name_before
    assert not window.panel.uses_design()  # the preset is used again, as before: no "the design has no layers yet"
    assert window.panel.experiment().model.arch == "lenet5" and window.panel.experiment().model.design is None
    view.undo_stack.redo()
    assert view.layers == start and view.name.text() == "my_lenet5"
    view.undo_stack.undo()
    # a kind change starts the layer afresh; a bad name is refused with a one-line reason
    view.undo_stack.redo()
    assert model.setData(model.index(1, COLUMNS.index("kind")), "dense")
    assert view.layers[1] == LayerEntry("dense", name="c1", units=64)
    with qtbot.waitSignal(model.refused) as refused:
        assert not model.setData(model.index(1, COLUMNS.index("name")), "9 bad name")
    assert "name" in refused.args[0] and "\n" not in refused.args[0]
    assert not model.flags(model.index(1, COLUMNS.index("kernel"))) & Qt.ItemIsEditable  # a dense layer has no kernel
    before = view.layers
    with qtbot.waitSignal(model.refused) as refused:  # another layer's name: refused, the design stays whole
        assert not model.setData(model.index(3, COLUMNS.index("name")), "C1")
    assert refused.args[0] == "layer 4: the name 'c1' is taken by layer 2" and view.layers == before
    assert model.setData(model.index(3, COLUMNS.index("name")), "conv9")  # a free name is taken


def test_starting_from_a_preset_brings_its_learning_rate_unless_the_user_chose_one(qtbot, make_window):
    """AlexNet's layers stay at chance at Adam 0.002: Start From AlexNet moves a default rate to its 0.0001."""
    window = make_window(wait_for_backend=False)
    set_options(window)
    panel = window.panel
    assert panel.experiment().train.learning_rate == 0.002
    window.start_design_from("alexnet")
    assert panel.uses_design() and panel.experiment().train.learning_rate == 0.0001
    assert panel.use_design.text() == "Use the Design tab's layers: my_alexnet"  # not the greyed architecture
    panel.use_design.setChecked(False)  # back to the panel's architecture (LeNet-5 here)
    assert panel.use_design.text() == "Use the Design tab's layers"
    assert panel.experiment().model.design is None and panel.experiment().train.learning_rate == 0.002
    window.start_design_from("alexnet")
    window.start_design_from("lenet5")
    assert panel.experiment().train.learning_rate == 0.002
    panel.learning_rate.setValue(0.005)  # the user's own rate stays
    window.start_design_from("alexnet")
    assert panel.experiment().train.learning_rate == 0.005


def test_an_impossible_row_disables_train_and_names_the_layer(qtbot, make_window):
    window = make_window()
    set_options(window)
    view, model = window.design_view, window.design_view.model
    window.start_design_from("lenet5")
    qtbot.waitUntil(window.train_button.isEnabled, timeout=WAIT_MS)
    assert model.setData(model.index(3, COLUMNS.index("kernel")), 20)  # c3: 20×20 on 14×14 maps
    qtbot.waitUntil(lambda: not window.train_button.isEnabled(), timeout=WAIT_MS)
    assert model.analysis.problem_row == 3
    assert "layer 4" in view.problem.text() and "c3" in view.problem.text() and "14×14" in view.problem.text()
    assert not window.architecture_view.problem.isHidden() and "c3" in window.architecture_view.problem.text()
    assert model.data(model.index(3, COLUMNS.index("output"))) == "impossible"
    window.undo_action.trigger()
    qtbot.waitUntil(window.train_button.isEnabled, timeout=WAIT_MS)
    assert view.problem.isHidden()
    # an order no image size can fix: dense before flatten
    view.select(5)
    view.delete()
    qtbot.waitUntil(lambda: not window.train_button.isEnabled(), timeout=WAIT_MS)
    assert "flatten" in view.problem.text() and not window.architecture_view.problem.isHidden()


def test_the_diagram_follows_the_design(qtbot, make_window, tmp_path):
    window = make_window(wait_for_backend=False)
    set_options(window)
    diagram = window.architecture_view.diagram
    window.start_design_from("lenet5")
    qtbot.waitUntil(lambda: "maps:c3" in diagram.drawn, timeout=WAIT_MS)
    before = len(diagram.drawn)
    window.design_view.select(4)  # s4
    window.design_view.delete()
    qtbot.waitUntil(lambda: "maps:s4" not in diagram.drawn and bool(diagram.drawn), timeout=WAIT_MS)
    assert len(diagram.drawn) == before - 1
    path = tmp_path / "net.svg"
    window.files.ask_export_path = lambda *_args: str(path)
    window.files.export_diagram()
    assert path.read_bytes().lstrip().startswith(b"<?xml")


def test_design_files_round_trip_and_malformed_ones_are_one_line(qtbot, make_window, tmp_path):
    window = make_window(wait_for_backend=False)
    set_options(window)
    window.start_design_from("vgg_small")
    layers = window.design_view.layers
    window.files.save_design_to(str(tmp_path / "mine"))
    saved = tmp_path / "mine.cnn.json"
    assert json.loads(saved.read_text())["format"] == "cnnstudio-design"
    window.design_view.undo_stack.undo()
    assert window.design_view.layers == ()
    window.files.open_design_path(str(saved))
    assert window.design_view.layers == layers
    bad = tmp_path / "bad.cnn.json"
    bad.write_text('{"format": "cnnstudio-design", "version": 1, "layers": [{"kind": "conv", "filters": "x"}]}')
    window.files.open_design_path(str(bad))
    message = window.last_message.text()
    assert "layer 1" in message and "filters" in message and "\n" not in message
    assert window.design_view.layers == layers  # nothing changed
    window.last_message.done(0)


def test_a_refused_edit_says_why_until_the_next_edit_and_never_hides_the_real_problem(qtbot, make_window):
    window = make_window(wait_for_backend=False)
    set_options(window)
    view, model = window.design_view, window.design_view.model
    window.start_design_from("lenet5")
    view.select(5)  # flatten
    view.delete()  # c5 (dense) now follows s4: needs a vector
    qtbot.waitUntil(lambda: "flatten" in view.problem.text(), timeout=WAIT_MS)
    real = view.problem.text()
    assert not model.setData(model.index(2, COLUMNS.index("name")), "bad name!")
    assert "bad name!" in view.problem.text() and real in view.problem.text()  # the reason, above the problem
    assert model.setData(model.index(1, COLUMNS.index("filters")), 8)  # the next edit: the reason goes
    qtbot.waitUntil(lambda: "bad name!" not in view.problem.text(), timeout=WAIT_MS)
    assert "flatten" in view.problem.text() and not view.problem.isHidden()
    # a refusal on a sound design goes at the next selection, or by itself after a few seconds
    window.design_view.undo_stack.undo()
    window.design_view.undo_stack.undo()
    qtbot.waitUntil(lambda: not model.analysis.problem, timeout=WAIT_MS)
    assert view.problem.isHidden()
    assert not model.setData(model.index(2, COLUMNS.index("name")), "bad name!")
    assert "bad name!" in view.problem.text() and not view.problem.isHidden()
    view.select(3)
    assert view.problem.isHidden()
    assert not model.setData(model.index(2, COLUMNS.index("name")), "output")
    view._refusal_timer.setInterval(50)
    view._refusal_timer.start()
    qtbot.waitUntil(view.problem.isHidden, timeout=WAIT_MS)


def test_an_empty_unused_design_greets_with_how_to_start_and_names_the_real_checkbox(qtbot, make_window):
    window = make_window(wait_for_backend=False)
    set_options(window)
    view, panel = window.design_view, window.panel
    window.preview.refresh()
    assert view.layers == () and not panel.uses_design()
    assert view.problem.isHidden() and view.problem.text() == ""  # no error for a design not started
    assert "Start From" in view.note.text() and "Add" in view.note.text()
    window.start_design_from("lenet5")
    panel.use_design.setChecked(False)
    qtbot.waitUntil(lambda: "Not in use" in view.note.text(), timeout=WAIT_MS)
    assert panel.use_design.text() in view.note.text() and "choose 'Design'" not in view.note.text()


def test_what_each_row_makes_is_in_sight_at_the_default_window_size(qtbot, make_window):
    window = make_window(wait_for_backend=False)
    set_options(window)
    window.resize(1220, 780)
    window.tabs.setCurrentWidget(window.design_view)
    window.start_design_from("alexnet")
    computed = [COLUMNS.index(field) for field in ("output", "params", "macs")]
    edits = [COLUMNS.index(field) for field in ("filters", "kernel", "size", "stride", "units", "activation")]
    assert max(computed) < min(edits) and COLUMNS[:2] == ("kind", "name")
    table, header = window.design_view.table, window.design_view.table.horizontalHeader()
    qtbot.waitUntil(lambda: header.sectionSize(computed[-1]) > 0, timeout=WAIT_MS)
    right = header.sectionViewportPosition(computed[-1]) + header.sectionSize(computed[-1])
    assert right <= table.viewport().width(), (right, table.viewport().width())


def test_an_impossible_layer_is_named_once(qtbot, make_window):
    window = make_window(wait_for_backend=False)
    set_options(window)
    view, model = window.design_view, window.design_view.model
    window.start_design_from("lenet5")
    assert model.setData(model.index(1, COLUMNS.index("kernel")), 40)  # c1: 40×40 on 32×32 images
    qtbot.waitUntil(lambda: model.analysis.problem_row == 1, timeout=WAIT_MS)
    text = view.problem.text()
    assert text.startswith("layer 2, convolution 'c1'") and text.count("layer") == 1, text
