"""Regenerate the README screenshots from the real window, driven through its public surface.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots.py [--out docs]

It trains LeNet-5 on MNIST when the IDX files are in ../shared/datasets/mnist (or the folder given
with ``--dataset``), otherwise on the built-in ``digits``; then it inspects the model (feature maps,
filters, training timeline, sketch pad with a drawn digit and the shift probe, Grad-CAM of the
sketch, evaluation), runs a 2 × 2 pooling × padding study and shows the run history, an impossible
configuration, the Design tab (LeNet-5 edited), the diagram of a design and an exported
AlexNet-CIFAR diagram, an error dialog, and the operation explorer on one cell of the sketch through
max pooling and a min-pooling run of the study. Each view is saved as a PNG of the 1220×780 window
(a few minutes on two CPU cores).

Every per-user location (home, data, settings, Keras and matplotlib folders) points at a temporary
folder that is removed at the end: the real user's files and settings are never read or touched.
Without an X display it falls back to Qt's offscreen platform (fonts may then differ).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

# before anything reads them: every per-user location in a fresh temporary folder
_TMP = Path(tempfile.mkdtemp(prefix="cnnstudio-screenshots-"))
for _name, _sub in (("HOME", "home"), ("XDG_DATA_HOME", "xdg-data"), ("XDG_CONFIG_HOME", "xdg-config"),
                    ("XDG_CACHE_HOME", "xdg-cache"), ("XDG_STATE_HOME", "xdg-state"),
                    ("CNNSTUDIO_HOME", "cnnstudio-home"), ("KERAS_HOME", "keras-home"), ("MPLCONFIGDIR", "matplotlib")):
    (_TMP / _sub).mkdir()
    os.environ[_name] = str(_TMP / _sub)
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's cnnstudio, wherever run from

import argparse  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from cnnstudio.core.config import Experiment, ModelOptions, TrainOptions  # noqa: E402
from cnnstudio.core.explain.operation import OperationExplorer  # noqa: E402
from cnnstudio.core.files.persistence import load_model  # noqa: E402
from cnnstudio.core.network.diagram import network_figure  # noqa: E402
from cnnstudio.core.network.shape_table import shape_table  # noqa: E402
from cnnstudio.ui.design_model import COLUMNS  # noqa: E402
from cnnstudio.ui.event_wait import wait, wait_until  # noqa: E402
from cnnstudio.ui.main_window import MainWindow  # noqa: E402
from cnnstudio.ui.settings import Settings  # noqa: E402

MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"  # ../shared beside the checkout
WINDOW_SIZE = (1220, 780)
TITLE_BAR_HEIGHT = 26
STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {text}", flush=True)


class Shooter:
    def __init__(self, window: MainWindow, out: Path):
        self.window, self.out = window, out
        self.written: list[Path] = []

    def save(self, name: str, pixmap: QPixmap) -> None:
        path = self.out / f"{name}.png"
        if not pixmap.save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        self.written.append(path)
        log(f"wrote {path} ({pixmap.width()}×{pixmap.height()}, {path.stat().st_size // 1024} KB)")

    def window_shot(self, name: str, settle_ms: int = 400) -> None:
        wait(settle_ms)  # pending layouts, matplotlib's draw_idle and debounced updates
        self.save(name, self.window.grab())

    def dialog_shot(self, name: str, dialog: QWidget, settle_ms: int = 400) -> None:
        """The window with the dialog drawn over it where it stands (centred when Xvfb has no window manager
        to place it), under a plain title bar with the dialog's title, which a window manager would draw."""
        wait(settle_ms)
        window = self.window
        picture = window.grab()
        inside = window.mapFromGlobal(dialog.frameGeometry().topLeft())
        if not window.rect().contains(inside) or not window.rect().contains(inside + QPoint(dialog.width(),
                                                                                             dialog.height())):
            inside = QPoint((window.width() - dialog.width()) // 2, (window.height() - dialog.height()) // 3)
        bar = TITLE_BAR_HEIGHT
        inside = QPoint(inside.x(), max(inside.y(), bar))
        painter = QPainter(picture)
        painter.fillRect(inside.x() + 3, inside.y() - bar + 3, dialog.width(), dialog.height() + bar, Qt.darkGray)
        painter.fillRect(inside.x(), inside.y() - bar, dialog.width(), bar, QColor("#d6d6d6"))  # the title bar
        font = painter.font()
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#202020"))
        painter.drawText(QRect(inside.x(), inside.y() - bar, dialog.width(), bar), Qt.AlignCenter, dialog.windowTitle())
        painter.drawPixmap(inside, dialog.grab())
        painter.setPen(QColor("#808080"))
        painter.drawRect(inside.x(), inside.y() - bar, dialog.width() - 1, dialog.height() + bar - 1)
        painter.end()
        self.save(name, picture)


def send_mouse(widget: QWidget, kind: QEvent.Type, point: tuple[float, float], buttons: Any) -> None:
    position = QPointF(*point)
    button = Qt.LeftButton if kind != QEvent.MouseMove else Qt.NoButton
    event = QMouseEvent(kind, position, widget.mapToGlobal(position), button, buttons, Qt.NoModifier)
    QApplication.sendEvent(widget, event)


def draw_stroke(widget: QWidget, points: list[tuple[float, float]]) -> None:
    """One mouse drag through ``points`` (interpolated every few pixels, as a real mouse reports it)."""
    send_mouse(widget, QEvent.MouseButtonPress, points[0], Qt.LeftButton)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        steps = max(1, int(np.hypot(x1 - x0, y1 - y0) // 6))
        for i in range(1, steps + 1):
            send_mouse(widget, QEvent.MouseMove, (x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps),
                       Qt.LeftButton)
    send_mouse(widget, QEvent.MouseButtonRelease, points[-1], Qt.NoButton)
    wait(30)


def two_strokes() -> list[list[tuple[float, float]]]:
    """A handwritten '2' on the 280×280 canvas: an arc over the top down the diagonal, then the base line."""
    arc = [(140 + 58 * np.cos(a), 105 - 52 * np.sin(a)) for a in np.linspace(np.pi * 0.95, -np.pi * 0.3, 14)]
    return [[*arc, (112, 190), (80, 222)], [(82, 222), (150, 220), (205, 224)]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent), help="folder for the PNGs (docs/)")
    parser.add_argument("--dataset", default=str(MNIST) if (MNIST / "t10k-images-idx3-ubyte.gz").exists() else "digits",
                        help="a dataset name or an IDX folder (default: the shared MNIST copy, else 'digits')")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the main run (default 2)")
    parser.add_argument("--study-epochs", type=int, default=1, help="epochs of each of the 4 study runs (default 1)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"dataset {args.dataset}; temporary home {_TMP}")

    app = QApplication.instance() or QApplication([sys.argv[0]])
    log(f"Qt platform: {app.platformName()}")
    window = MainWindow(Settings(QSettings(str(_TMP / "settings.ini"), QSettings.IniFormat)))
    window.resize(*WINDOW_SIZE)
    window.show()
    shots = Shooter(window, out)
    wait_until(lambda: window.runtime is not None, 300, "TensorFlow to load")
    log(f"TensorFlow loaded: {window.device_label.text()}")

    def experiment(epochs: int, **model: Any) -> Experiment:
        return Experiment(ModelOptions(**model), TrainOptions(epochs=epochs, batch_size=64), args.dataset)

    def set_experiment(value: Experiment) -> None:
        window.panel.set_experiment(value)
        wait(600)  # the shape preview and the dataset's description follow the panel

    # idle and impossible -----------------------------------------------------------------------
    set_experiment(experiment(args.epochs, arch="lenet5"))
    wait_until(window.train_button.isEnabled, 60, "the Train button")
    window.tabs.setCurrentWidget(window.architecture_view)
    shots.window_shot("idle")
    set_experiment(experiment(args.epochs, arch="alexnet_cifar", padding="valid"))
    if window.train_button.isEnabled():
        raise RuntimeError("alexnet_cifar with valid padding should be refused (Train stayed enabled)")
    shots.window_shot("impossible")

    # the network designer and the diagram ---------------------------------------------------------
    set_experiment(experiment(args.epochs, arch="lenet5"))
    window.start_design_from("lenet5")
    view, model = window.design_view, window.design_view.model
    model.setData(model.index(3, COLUMNS.index("filters")), 32)  # c3: 32 feature maps instead of 16
    model.setData(model.index(5, COLUMNS.index("kind")), "gap")  # global average pooling instead of flatten
    view.select(5)
    wait(600)
    shots.window_shot("design")
    window.tabs.setCurrentWidget(window.architecture_view)
    window.architecture_view.diagram.redraw_now()
    shots.window_shot("design_architecture")
    figure = network_figure(shape_table(ModelOptions(arch="alexnet_cifar", padding="same"), (32, 32, 3), 10),
                            title="AlexNet-CIFAR on 32×32 colour images ('same' padding)")
    figure.savefig(out / "diagram.png", dpi=110)
    shots.written.append(out / "diagram.png")
    log(f"wrote {out / 'diagram.png'}")

    # training and finished -----------------------------------------------------------------------
    set_experiment(experiment(args.epochs, arch="lenet5"))
    wait_until(window.train_button.isEnabled, 60, "the Train button")
    progress: dict[str, Any] = {}
    window.trainer.batch.connect(lambda p: progress.update(epoch=p.epoch, step=p.step, steps=p.steps))
    finished: list[bool] = []
    window.training_finished.connect(lambda: finished.append(True))
    window.train_button.click()
    log("training…")
    last = args.epochs - 1  # the last epoch, well under way: the earlier epochs' dots are on the plot
    wait_until(lambda: finished or (progress.get("epoch", -1) >= last and progress["step"] >= 0.55 * progress["steps"]),
               600, "training progress")
    if not finished:
        shots.window_shot("training", settle_ms=150)
    wait_until(lambda: finished, 600, "the run to finish")
    log("training finished")
    shots.window_shot("finished")

    # an error: a damaged copy of the trained model ------------------------------------------------
    damaged = _TMP / "home" / "lenet5-mnist.keras"
    entries, _warnings = window.history.entries()
    content = bytearray(next(window.history.model_path(e) for e in entries if e.model_path).read_bytes())
    middle = len(content) // 2
    content[middle:middle + 256] = bytes(256)  # a disk or a download that lost a block: the weights' checksum fails
    damaged.write_bytes(bytes(content))
    window.last_message = None
    window.files.open_model_path(str(damaged))
    wait_until(lambda: window.last_message is not None and window.last_message.isVisible(), 120, "the error dialog")
    log(f"error dialog: {window.last_message.text()}")
    shots.dialog_shot("error", window.last_message)
    window.last_message.done(0)

    # inspection ---------------------------------------------------------------------------------
    window.tabs.setCurrentWidget(window.feature_view)
    wait_until(lambda: window.feature_view.current is not None, 120, "a test image in the feature maps")
    shots.window_shot("feature_maps")
    window.feature_view.tabs.setCurrentIndex(1)  # the Filters sub-tab
    shots.window_shot("filters")
    timeline = window.feature_view.timeline
    window.feature_view.tabs.setCurrentWidget(timeline)
    timeline.slider.setValue(timeline.slider.maximum() // 2)  # an epoch in the middle of the run
    shots.window_shot("timeline")
    window.feature_view.tabs.setCurrentIndex(0)

    window.tabs.setCurrentWidget(window.sketch_view)
    wait(200)
    for stroke in two_strokes():  # each stroke is read as it ends: the second call shows the steady call time
        draw_stroke(window.sketch_view.canvas, stroke)
        wait(400)
    wait_until(lambda: window.sketch_view.probe_button.isEnabled(), 30, "the sketch's prediction")
    window.sketch_view.probe_button.click()
    log(f"sketch read as {window.sketch_view.top.text()}")
    shots.window_shot("sketch")

    feature = window.feature_view  # the sketch explained: Grad-CAM on the last convolution
    explained: list[Any] = []
    feature.attribution.explained.connect(explained.append)
    window.sketch_view.maps_button.click()
    feature.tabs.setCurrentWidget(feature.attribution)
    wait_until(lambda: explained, 120, "the Grad-CAM map of the sketch")
    shots.window_shot("gradcam_sketch", settle_ms=800)
    feature.tabs.setCurrentIndex(0)

    window.tabs.setCurrentWidget(window.evaluation_view)
    idle: list[bool] = []
    window.busy_changed.connect(lambda busy: idle.append(not busy))
    window.evaluation_view.run_button.click()
    wait_until(lambda: any(idle), 300, "the evaluation")
    evaluation = window.evaluation_view.evaluation
    if evaluation is not None:  # the most frequent confusion, with its images in the gallery
        confusion = np.array(evaluation.confusion, dtype=np.int64)
        np.fill_diagonal(confusion, -1)
        true, predicted = np.unravel_index(int(np.argmax(confusion)), confusion.shape)
        window.evaluation_view.show_cell(int(true), int(predicted))
    shots.window_shot("evaluation")

    # study and run history ------------------------------------------------------------------------
    set_experiment(experiment(args.study_epochs, arch="lenet5"))
    window.tabs.setCurrentWidget(window.study_view)
    study = window.study_view
    for name, box in study.pooling.items():
        box.setChecked(name in ("max", "min"))
    for name, box in study.padding.items():
        box.setChecked(name in ("valid", "same"))
    for box in study.activation.values():
        box.setChecked(False)
    wait_until(study.run_button.isEnabled, 60, "the Run Study button")
    finished.clear()
    study.run_button.click()
    log("study…")
    wait_until(lambda: finished, 900, "the study to finish")
    log("study finished")
    shots.window_shot("study")

    window.tabs.setCurrentWidget(window.runs_view)
    wait(300)
    window.runs_view.table.selectAll()  # every run's validation curves overlaid
    shots.window_shot("runs")

    # the operation explorer: one cell of the sketch through max (the trained model) and min pooling
    entries, _warnings = window.history.entries()
    min_run = next(e for e in entries if e.model_path and e.experiment["model"]["pooling"] == "min"
                   and e.experiment["model"]["padding"] == "valid")
    other, _record = load_model(window.history.model_path(min_run))
    feature.set_compare_model(other, "the study's min-pooling run")
    window.tabs.setCurrentWidget(feature)
    explorer, image = OperationExplorer(window.workspace.model), feature.current
    spread = {(r, c): np.ptp(explorer.explain(image, "s2", r, c, 0).values) for r in range(14) for c in range(14)}
    row, col = max(spread, key=spread.get)  # the window where max and min pooling differ most
    feature.explore("s2", 0, row, col)
    shots.dialog_shot("explorer_max_min", feature.enlarged, settle_ms=600)
    feature.enlarged.close()

    print("wrote:")
    for path in shots.written:
        print(f"  {path}  ({path.stat().st_size // 1024} KB)")
    log("done")
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except BaseException:  # noqa: BLE001 - said, then the same exit as any failure
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # The window holds an unsaved model, whose closing would ask to save it; nothing runs in the
    # background any more, so the process ends here without that question.
    os._exit(code)
