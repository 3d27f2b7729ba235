"""File actions: new, open, save, save as, recent models, exports, and the ask-to-save dialogs.

Slow file work (saving, loading in Keras safe mode, exporting) runs on worker threads; the
workspace is updated on the GUI thread when it is done.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMenuBar, QMessageBox, QWidget

from cnnstudio.core.errors import CnnStudioError, one_line
from cnnstudio.core.logs import active_log_file, log
from cnnstudio.core.workspace import InterruptedRun, Recovery, Workspace
from cnnstudio.ui.background import Task, start_task
from cnnstudio.ui.class_labels import display_name
from cnnstudio.ui.settings import Settings

MODEL_FILTER = "Keras models (*.keras)"
DESIGN_FILTER = "CNN Studio designs (*.cnn.json);;JSON files (*.json)"



class FileActions(QObject):
    """The File menu and what it does to the workspace."""

    busy_changed = Signal(bool)  # a save, open or export started (True) or ended (False)
    new_requested = Signal()  # the workspace was cleared: reset the options to their defaults
    model_opened = Signal()
    failed = Signal(str, str, str)  # title, one-line reason, details
    message = Signal(str, int)  # status-bar text, milliseconds (0: until replaced)

    def __init__(self, window: QWidget, workspace: Workspace, settings: Settings,
                 suggested_name: Callable[[], str], figure: Callable[[], Any]):
        super().__init__(window)
        self.window, self.workspace, self.settings = window, workspace, settings
        self._suggested_name, self._figure = suggested_name, figure
        self._after_save: Callable[[], None] | None = None
        self._diagram: Callable[[], tuple[Any, str] | None] = lambda: None
        self._current_design: Callable[[], Any] = lambda: None
        self._show_design: Callable[[Any, str], None] = lambda _design, _text: None
        self._failure_title = "File problem"
        self.history_holds: Callable[[Any], bool] | None = None  # whether a run's model is the history's own copy

    # menu ------------------------------------------------------------------------------
    def _action(self, menu: QMenu, text: str, slot: Callable[[], None], shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def build_menu(self, bar: QMenuBar, quit_slot: Callable[[], Any]) -> QMenu:
        menu = bar.addMenu("&File")
        self.new_action = self._action(menu, "&New Experiment", self.new_experiment, QKeySequence.New,
                                       "Start over with default options")
        self.open_action = self._action(menu, "&Open Model…", self.open_model, QKeySequence.Open,
                                        "Open a .keras model with its settings and history")
        self.recent_menu = menu.addMenu("Recent &Models")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        menu.addSeparator()
        self.open_design_action = self._action(menu, "Open &Design…", self.open_design, tip="Open a .cnn.json design "
                                               "into the Design tab")
        self.save_design_action = self._action(menu, "Save Design &As…", self.save_design_as,
                                               tip="Save the Design tab's layers as a .cnn.json file")
        menu.addSeparator()
        self.save_action = self._action(menu, "&Save Model", self.save_model, QKeySequence.Save)
        self.save_as_action = self._action(menu, "Save Model &As…", self.save_model_as, QKeySequence("Ctrl+Shift+S"))
        export = menu.addMenu("&Export")
        self.export_history_action = self._action(export, "Training History as CSV…", self.export_history)
        self.export_plots_action = self._action(export, "Plots as PNG or SVG…", self.export_plots)
        self.export_diagram_action = self._action(export, "Network Diagram as PNG or SVG…", self.export_diagram)
        self.export_saved_model_action = self._action(export, "Model as TensorFlow SavedModel…", self.export_saved_model)
        self.export_tflite_action = self._action(export, "Model as TFLite…", self.export_tflite)
        menu.addSeparator()
        self._action(menu, "&Quit", quit_slot, QKeySequence("Ctrl+Q"))
        return menu

    def set_enabled(self, *, open_: bool, save: bool, export_history: bool) -> None:
        for action in (self.new_action, self.open_action):
            action.setEnabled(open_)
        self.recent_menu.setEnabled(open_)
        for action in (self.save_action, self.save_as_action, self.export_saved_model_action, self.export_tflite_action):
            action.setEnabled(save)
        self.export_history_action.setEnabled(export_history)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_models()
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_model_path(p, ask_first=True))

    # asking the user -------------------------------------------------------------------
    def ask_save_changes(self) -> str:
        """'save', 'discard' or 'cancel' for an unsaved trained model."""
        answer = QMessageBox.question(
            self.window, "Unsaved model", "The trained model has not been saved. Save it first?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def ask_save_path(self) -> str:
        start = self.workspace.path or str(self._last_folder() / f"{self._suggested_name()}.keras")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save model", start, MODEL_FILTER)
        if path and not path.endswith(".keras"):
            path += ".keras"
        return path

    def ask_open_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", str(self._last_folder()),
                                              f"{MODEL_FILTER};;All files (*)")
        return path

    def _last_folder(self) -> Path:
        """Where the dialogs start: the current model's folder, else the most recent model's, else home."""
        for path in (self.workspace.path, *self.settings.recent_models()):
            if path and Path(path).parent.is_dir():
                return Path(path).parent
        return Path.home()

    def ask_read_dataset(self, dataset: str) -> bool:
        """Whether the user agrees to read ``dataset``, a path that only a model file named."""
        answer = QMessageBox.question(
            self.window, "Read the model's dataset?",
            f"<p>This model was trained on <b>{html.escape(display_name(dataset, 200))}</b>.</p>"
            "<p>Read that folder?</p><p>(Its name comes from the model file. No: nothing is read.)</p>",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def maybe_keep_model(self, then: Callable[[], None]) -> bool:
        """True when the current model may be replaced now; after 'save' it saves and calls ``then`` later."""
        if not self.workspace.needs_saving:
            return True
        answer = self.ask_save_changes()
        if answer == "discard":
            self.workspace.discard_changes()
            return True
        if answer == "save":
            path = self.workspace.path or self.ask_save_path()
            if path:
                self.save_to(path, then=then)
        return False

    # new, open, save -------------------------------------------------------------------
    def new_experiment(self) -> None:
        if self.maybe_keep_model(self.new_experiment):
            self.workspace.clear()
            self.new_requested.emit()

    def open_model(self) -> None:
        if not self.maybe_keep_model(self.open_model):
            return
        path = self.ask_open_path()
        if path:
            self.open_model_path(path)

    def open_model_path(self, path: str, ask_first: bool = False, run_id: str | None = None) -> None:
        """Load a model on a worker thread (Keras safe mode) and make it the workspace's.

        ``run_id``: ``path`` is that run's copy in the run history. It is opened as the run's model, with
        no file of its own: Save asks where, so that nothing saved lies in the history (deleted with the run).
        """
        if ask_first and not self.maybe_keep_model(lambda: self.open_model_path(path, run_id=run_id)):
            return
        from cnnstudio.core.files.persistence import load_model  # refuses what is no image classifier

        self._start(f"Opening {path}…", lambda _t: (path, run_id, *load_model(path)), self._opened, "open-model")

    def _opened(self, result: tuple[str, str | None, Any, Any]) -> None:
        path, run_id, model, record = result
        where: dict[str, Any] = {"run_id": run_id} if run_id else {"path": path}
        if self._show_model(model, record, Path(path).name, **where):
            if run_id:
                self._finish(f"Opened the model of {self.workspace.file_state.display_name}: "
                             "File → Save keeps it in a file of its own")
            else:
                self.settings.add_recent_model(path)
                self._finish(f"Opened {path}")
            self.model_opened.emit()

    def _show_model(self, model: Any, record: Any, name: str, **where: Any) -> bool:
        """Make a loaded model the workspace's; when showing it fails in any way, say so in one line and
        leave an empty, usable workspace (never a half-shown model or a window stuck busy)."""
        try:
            self.workspace.set_model(model, record, **where)
        except Exception as exc:  # noqa: BLE001 - whatever a view makes of a file, the window stays usable
            log.exception("showing the model %s failed", name)
            details = traceback.format_exc()
            try:
                self.workspace.clear()
            except Exception:  # noqa: BLE001 - the message below matters more
                log.exception("clearing the workspace after a failed open failed too")
            self._fail("Could not open the model", f"{display_name(name, 80)} could not be shown: {one_line(exc)}",
                       details)
            return False
        return True

    # crash recovery --------------------------------------------------------------------
    def offer_recovery(self, recovery: Recovery) -> None:
        """After a run was cut off (the process killed), offer the model from its last finished epoch."""
        try:
            run = recovery.interrupted()
        except OSError as exc:
            log.warning("could not look for an interrupted run: %s", exc)
            return
        if run is None:
            return
        answer = QMessageBox.question(
            self.window, "Recover the interrupted run?",
            f"CNN Studio was closed during training. Open the model from {run.epochs_text}?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if answer != QMessageBox.Yes:
            recovery.discard(run)
            return
        self.recover(recovery, run)

    def recover(self, recovery: Recovery, run: InterruptedRun) -> None:
        """Load the checkpoint (the safe loader) as an unsaved model; the files are removed either way."""
        from cnnstudio.core.files.persistence import load_model

        def work(_task: Task) -> tuple[Any, Any]:
            try:
                return load_model(run.checkpoint)
            finally:
                recovery.discard(run)

        self._start("Recovering the interrupted run…", work, self._recovered, "recover-run",
                    title="The interrupted run could not be recovered")

    def _recovered(self, result: tuple[Any, Any]) -> None:
        model, record = result
        if self._show_model(model, record, "the recovered model", unsaved=True):
            self._finish("Recovered the interrupted run: save the model to keep it")
            self.model_opened.emit()

    def save_model(self) -> None:
        if self.workspace.path:
            self.save_to(self.workspace.path)
        else:
            self.save_model_as()

    def save_model_as(self) -> None:
        path = self.ask_save_path()
        if path:
            self.save_to(path)

    def save_to(self, path: str, then: Callable[[], None] | None = None) -> None:
        """Save on a worker thread (atomic); ``then`` runs after a successful save."""
        from cnnstudio.core.files.persistence import save_model

        model, record = self.workspace.model, self.workspace.record
        self._after_save = then
        self._start(f"Saving {path}…", lambda _t: (path, save_model(model, path, record)), self._saved, "save-model")

    def _saved(self, result: tuple[str, Path]) -> None:
        path = result[0]
        self.workspace.mark_saved(path)
        self.settings.add_recent_model(path)
        self._finish(f"Saved {path}")
        then, self._after_save = self._after_save, None
        if then is not None:
            then()

    # exports ---------------------------------------------------------------------------
    def ask_export_path(self, title: str, suggestion: str, filters: str) -> str:
        base = Path(self.workspace.path).with_suffix("") if self.workspace.path else Path.home() / "cnnstudio"
        path, _ = QFileDialog.getSaveFileName(self.window, title, f"{base}{suggestion}", filters)
        return path

    def _write_now(self, path: str, write: Callable[[str], Any]) -> None:
        """Small exports are written at once on the GUI thread; a failure is reported, not raised."""
        try:
            write(path)
        except CnnStudioError as exc:
            self.failed.emit("Export failed", str(exc), "")
        except (OSError, ValueError) as exc:
            self.failed.emit("Export failed", f"could not write {Path(path).name}: {exc}", "")
        else:
            self.message.emit(f"Wrote {path}", 6000)

    def export_history(self) -> None:
        from cnnstudio.core.files.export import history_csv

        record = self.workspace.record
        path = self.ask_export_path("Export training history", "-history.csv", "CSV files (*.csv)")
        if path and record is not None:
            self._write_now(path, lambda p: history_csv(record, p))

    def export_plots(self) -> None:
        path = self.ask_export_path("Export plots", "-curves.png", "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            self._write_now(path, lambda p: self._figure().savefig(p, dpi=150))

    # designs ---------------------------------------------------------------------------
    def set_design_access(self, current: Callable[[], Any], show: Callable[[Any, str], None]) -> None:
        """Where designs come from (the Design tab's, or raises ``DesignError``) and go to when opened."""
        self._current_design, self._show_design = current, show

    def open_design(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open design", str(Path.home()), DESIGN_FILTER)
        if path:
            self.open_design_path(path)

    def open_design_path(self, path: str) -> None:
        """Read a design file into the Design tab; a malformed file is one line, and nothing changes."""
        from cnnstudio.core.network.design import load_design

        try:
            design = load_design(path)
        except CnnStudioError as exc:
            self.failed.emit("Design not opened", str(exc), "")
        else:
            self._show_design(design, f"open {Path(path).name}")
            self.message.emit(f"Opened design {design.name} ({len(design.layers)} layers)", 6000)

    def save_design_as(self) -> None:
        try:
            design = self._current_design()
        except CnnStudioError as exc:
            self.failed.emit("Design not saved", f"these layers make no design yet: {exc}", "")
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Save design as", str(Path.home() / f"{design.name}.cnn.json"),
                                              DESIGN_FILTER)
        if path:
            self.save_design_to(path)

    def save_design_to(self, path: str) -> None:
        from cnnstudio.core.network.design import save_design

        try:
            written = save_design(self._current_design(), path)
        except CnnStudioError as exc:
            self.failed.emit("Design not saved", str(exc), "")
        else:
            self.message.emit(f"Saved design to {written}", 6000)

    def set_diagram(self, diagram: Callable[[], tuple[Any, str] | None]) -> None:
        """Where the network's picture comes from: the shown shape table and its title, or None."""
        self._diagram = diagram

    def export_diagram(self) -> None:
        from cnnstudio.core.network.diagram import network_figure

        shown = self._diagram()
        if shown is None:
            self.failed.emit("Export failed", "there is no network to draw: the options make no network yet", "")
            return
        table, title = shown
        path = self.ask_export_path("Export network diagram", "-network.png", "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            self._write_now(path, lambda p: network_figure(table, title).savefig(p, dpi=150))

    def export_saved_model(self) -> None:
        from cnnstudio.core.files.export import saved_model

        folder = QFileDialog.getExistingDirectory(self.window, "Folder to hold the SavedModel")
        if folder:
            model, target = self.workspace.model, str(Path(folder) / "saved_model")
            self._start("Exporting…", lambda _t: (target, saved_model(model, target)), self._exported, "export")

    def export_tflite(self) -> None:
        from cnnstudio.core.files.export import tflite

        path = self.ask_export_path("Export TFLite model", ".tflite", "TFLite models (*.tflite)")
        if path:
            model = self.workspace.model
            self._start("Exporting…", lambda _t: (path, tflite(model, path)), self._exported, "export")

    def _exported(self, result: tuple[str, Any]) -> None:
        self._finish(f"Exported {result[0]}")

    def export_report(self, entries: list) -> None:
        from cnnstudio.core.experiments.report import write_report

        path = self.ask_export_path("Export study report", "-study.md", "Markdown (*.md)")
        if path and entries:
            self._write_now(path, lambda p: write_report(entries, p))

    def export_run(self, entry: Any) -> None:
        """A run's record as JSON and a standalone Keras script that repeats it."""
        from cnnstudio.core.experiments.script_export import export_run
        from cnnstudio.core.files.persistence import read_record

        folder = QFileDialog.getExistingDirectory(self.window, "Folder for the run record and script")
        if not folder:
            return
        try:
            record = read_record(entry.model_path) if entry.model_path and Path(entry.model_path).is_file() else None
            shape = ((record.input_shape, len(record.class_names)) if record
                     else self.workspace.datasets.shape(entry.experiment["dataset"]))
            if shape is None:
                raise CnnStudioError(f"the image shape of dataset {entry.experiment['dataset']} is unknown; open it first")
            json_path, script_path = export_run(entry, shape[0], shape[1], folder)
        except CnnStudioError as exc:
            self.failed.emit("Export failed", str(exc), "")
        else:
            self.message.emit(f"Wrote {json_path.name} and {script_path.name} in {folder}", 8000)

    def open_run(self, entry: Any) -> None:
        if entry.model_path and Path(entry.model_path).is_file():
            own = self.history_holds is not None and self.history_holds(entry)
            self.open_model_path(entry.model_path, ask_first=True, run_id=entry.id if own else None)
        else:
            self.failed.emit("Cannot open run", f"the model of this run is no longer at {entry.model_path}", "")

    # worker plumbing -------------------------------------------------------------------
    def _start(self, text: str, work: Callable[[Task], Any], done: Callable[[Any], None], name: str,
               title: str = "File problem") -> None:
        self.busy_changed.emit(True)
        self.message.emit(text, 0)
        self._failure_title = title  # one file task at a time: the window is busy until it ends
        start_task(work, succeeded=done, failed=self._failed, name=name)  # methods: called on the GUI thread

    def _finish(self, text: str) -> None:
        self.busy_changed.emit(False)
        self.message.emit(text, 6000)

    def _failed(self, reason: str, details: str) -> None:
        self._fail(self._failure_title, reason, details)

    def _fail(self, title: str, reason: str, details: str) -> None:
        self._after_save = None
        self.busy_changed.emit(False)
        self.message.emit("", 1)
        self.failed.emit(title, reason, details)


def show_message(parent: QWidget, title: str, reason: str, details: str = "",
                 icon: QMessageBox.Icon = QMessageBox.Critical, log_hint: bool = True) -> QMessageBox:
    """A window-modal, non-blocking dialog with the one-line reason; the details (traceback) one click away.

    ``log_hint``: with details, say that they are in the log file too (for failures worth reporting).
    """
    box = QMessageBox(icon, title, reason, QMessageBox.Ok, parent)
    box.setTextFormat(Qt.PlainText)  # reasons name files, classes and layers: never rich text
    if details:  # an unexpected failure: its traceback is in the log too, for reporting it
        box.setDetailedText(details)
        if log_hint and (log := active_log_file()) is not None:
            box.setInformativeText(f"The details are also in the log file: {log}")
    box.setWindowModality(Qt.WindowModal)
    box.open()
    return box
