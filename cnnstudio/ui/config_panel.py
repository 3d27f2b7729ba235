"""The experiment panel: every option of the network and of its training, with tooltips."""

from __future__ import annotations

import math
from contextlib import ExitStack
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.config import (
    ACTIVATION_LABELS,
    LR_SCHEDULE_LABELS,
    MAX_EXPLICIT_PADDING,
    OPTIMIZER_LABELS,
    PADDING_LABELS,
    POOLING_LABELS,
    Experiment,
    ModelOptions,
    TrainOptions,
)
from cnnstudio.core.data.datasets import BUILTIN_NAMES, DESCRIPTIONS
from cnnstudio.core.errors import ConfigError, printable
from cnnstudio.core.network.architectures import ARCHITECTURES, default_learning_rate
from cnnstudio.core.network.design import Design
from cnnstudio.ui.device_choice import DeviceChoice


def _combo(items: dict[str, str], tip: str) -> QComboBox:
    combo = QComboBox()
    for value, label in items.items():
        combo.addItem(label, value)
    combo.setToolTip(tip)
    return combo


def _pair(first: QWidget, label: str, second: QWidget) -> QHBoxLayout:
    """Two short options on one form row: the first, then the second with its own label."""
    row = QHBoxLayout()
    row.addWidget(first, 1)
    caption = QLabel(label)
    caption.setBuddy(second)
    row.addWidget(caption)
    row.addWidget(second, 1)
    return row


def _spin(low: int, high: int, tip: str, special: str | None = None) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setToolTip(tip)
    if special:
        spin.setSpecialValueText(special)
    return spin


def _select(combo: QComboBox, value: object) -> None:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)


USE_DESIGN_TEXT = "Use the Design tab's layers"
ARCH_TIP = "The network's layout. Hover an entry for its description."


class ConfigPanel(QWidget):
    """Edits an :class:`Experiment`; ``changed`` fires on every edit."""

    changed = Signal()
    dataset_chosen = Signal()  # a dataset from disk was chosen (again): worth reading again even if it failed

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.arch = _combo({k: v.title for k, v in ARCHITECTURES.items()}, "")
        for i, info in enumerate(ARCHITECTURES.values()):
            self.arch.setItemData(i, info.description, Qt.ToolTipRole)
        self.arch.setToolTip(ARCH_TIP)
        self.use_design = QCheckBox(USE_DESIGN_TEXT)
        self.use_design.setToolTip("Build the network from the layer list of the Design tab instead of the preset "
                                   "(any edit there ticks this). Pooling, padding and activation still apply to the "
                                   "layers that follow them.")
        self._design: Design | None = None
        self._design_problem: str | None = None
        self.pooling = _combo(POOLING_LABELS, "How each pooling window is summarised: its largest value (max, "
                              "keeps strong activations), its mean (average, smooths) or its smallest value (min).")
        self.pool_size = _spin(0, 16, "Pooling window size in pixels (auto: the architecture's own, e.g. 2 for "
                               "LeNet-5, 3 for AlexNet). Bigger windows shrink the maps faster.", "auto")
        self.pool_stride = _spin(0, 16, "Step between pooling windows (auto: the architecture's). A stride smaller "
                                 "than the window makes windows overlap, as in AlexNet.", "auto")
        self.padding = _combo({**PADDING_LABELS, "explicit": "zero border of N px"},
                              "valid: convolutions only where the kernel fits, so each layer shrinks the map. "
                              "same: a zero border keeps the size (pooling pads too). N px: an explicit zero "
                              "border of N pixels around every convolution's input. Whatever you choose, the "
                              "LeNet-5 family first gives 28×28 images a 2 px border (input_pad): the 32×32 input "
                              "of LeCun et al.")
        self.padding_px = _spin(1, MAX_EXPLICIT_PADDING, "Width of the explicit zero border, in pixels.")
        self.activation = _combo(ACTIVATION_LABELS,
                                 "The nonlinearity after every convolution and hidden dense layer "
                                 "(LeNet-5 originally used tanh-like squashing; ReLU trains faster).")
        self.dropout = QDoubleSpinBox()
        self.dropout.setRange(-0.05, 0.9)
        self.dropout.setSingleStep(0.05)
        self.dropout.setSpecialValueText("auto")
        self.dropout.setToolTip("Fraction of dense-layer units dropped at random while training, against "
                                "overfitting (auto: the architecture's, 0.5 for AlexNet, none for LeNet-5).")
        self.batch_norm = QCheckBox("Batch norm")
        self.batch_norm.setToolTip("Batch normalization: normalise each convolution's output over the batch before "
                                   "its activation: often faster, steadier training; adds 4 values per channel.")
        self.augment = QCheckBox("Data augmentation")
        self.augment.setToolTip("Random distortions while training only (Keras preprocessing layers): small "
                                "shifts, rotations and zoom for gray digits; shifts, flips and contrast for colour.")

        self.dataset = QComboBox()
        for name in BUILTIN_NAMES:
            self.dataset.addItem(name + (" (built in, offline)" if name == "digits" else ""), name)
            self.dataset.setItemData(self.dataset.count() - 1, DESCRIPTIONS.get(name, name), Qt.ToolTipRole)
        self.dataset.setToolTip("The images to learn from; they set the input shape and the number of classes.")
        self.open_dataset = QPushButton("Open…")
        self.open_dataset.setToolTip("Use a folder of MNIST-format IDX files, an .npz file "
                                     "(x_train, y_train, x_test, y_test) or a folder with one sub-folder per class.")
        dataset_menu = QMenu(self)
        dataset_menu.addAction("Folder (IDX files or class sub-folders)…", self.choose_dataset_folder)
        dataset_menu.addAction("NumPy file (.npz)…", self.choose_dataset_file)
        self.open_dataset.setMenu(dataset_menu)

        self.epochs = _spin(1, 10_000, "Passes over the training images (Continue adds this many more).")
        self.batch_size = _spin(1, 65_536, "Images per gradient step: larger is faster per epoch but takes fewer steps.")
        self.optimizer = _combo(OPTIMIZER_LABELS,
                                "The rule that turns gradients into weight updates.")
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(0.00001, 1.0)
        self.learning_rate.setSingleStep(0.0005)
        self.learning_rate.setToolTip("Step size of the weight updates. Too high: the loss jumps or becomes NaN, or "
                                      "stays at chance; too low: training crawls. Each architecture starts at its "
                                      "own rate: AlexNet at 0.0001 (at 0.002 it stays at chance).")
        self.lr_schedule = _combo(LR_SCHEDULE_LABELS,
                                  "cosine: the rate glides down to 5% by the last epoch, which settles the weights.")
        self.patience = _spin(0, 1000, "Stop when the validation loss has not improved for this many epochs, and "
                              "keep the best weights (off: always train every epoch).", "off")
        self.validation = QDoubleSpinBox()
        self.validation.setRange(0.0, 0.5)
        self.validation.setSingleStep(0.05)
        self.validation.setToolTip("Fraction of the training images held out (the same ones for the same seed) "
                                   "to measure generalisation after every epoch.")
        self.seed = _spin(0, 2**31 - 1, "Random seed for weights, shuffling and the validation split: "
                          "the same seed gives the same run.")

        network = QGroupBox("Network")
        form = QFormLayout(network)
        form.addRow("Architecture", self.arch)
        form.addRow(self.use_design)
        form.addRow("Pooling", self.pooling)
        pool_row = QHBoxLayout()
        pool_row.addWidget(self.pool_size)
        pool_row.addWidget(self.pool_stride)
        form.addRow("Pool size / stride", pool_row)
        pad_row = QHBoxLayout()
        pad_row.addWidget(self.padding, 1)
        pad_row.addWidget(self.padding_px)
        form.addRow("Padding", pad_row)
        form.addRow("Activation", self.activation)
        dropout_row = QHBoxLayout()  # short options share rows: "Runs on" fits a 700-pixel-high window
        dropout_row.addWidget(self.dropout, 1)
        dropout_row.addWidget(self.batch_norm)
        form.addRow("Dropout", dropout_row)

        data = QGroupBox("Data")
        data_form = QFormLayout(data)
        data_row = QHBoxLayout()  # across the label column: the combo has room for "digits (built in, offline)"
        dataset_label = QLabel("Dataset")
        dataset_label.setBuddy(self.dataset)
        data_row.addWidget(dataset_label)
        data_row.addWidget(self.dataset, 1)
        data_row.addWidget(self.open_dataset)
        data_form.addRow(data_row)
        split_row = QHBoxLayout()  # two short options on one row: the panel fits a 780-pixel-high window
        split_row.addWidget(self.validation, 1)
        split_row.addWidget(self.augment)
        data_form.addRow("Validation split", split_row)

        training = QGroupBox("Training")
        train_form = QFormLayout(training)
        train_form.addRow("Epochs", _pair(self.epochs, "Batch size", self.batch_size))
        train_form.addRow("Optimizer", self.optimizer)
        train_form.addRow("Learning rate", self.learning_rate)
        train_form.addRow("Schedule", self.lr_schedule)
        train_form.addRow("Early stopping", _pair(self.patience, "Seed", self.seed))

        for combo in self.findChildren(QComboBox):
            combo.setMinimumContentsLength(12)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)  # the group titles already part the groups; every option fits 1024×700 unscrolled
        self.device_choice = DeviceChoice()  # where runs train: its own state, saved with the settings
        for box in (network, data, training, self.device_choice):
            layout.addWidget(box)
        layout.addStretch(1)

        self.set_experiment(Experiment())
        self.arch.currentIndexChanged.connect(self._arch_changed)  # before ``changed`` fires
        self.use_design.toggled.connect(self._design_toggled)
        for combo in (self.arch, self.pooling, self.padding, self.activation, self.dataset, self.optimizer, self.lr_schedule):
            combo.currentIndexChanged.connect(self._emit_changed)
        for spin in (self.pool_size, self.pool_stride, self.padding_px, self.epochs, self.batch_size, self.patience,
                     self.seed, self.dropout, self.learning_rate, self.validation):
            spin.valueChanged.connect(self._emit_changed)
        for box in (self.batch_norm, self.augment, self.use_design):
            box.toggled.connect(self._emit_changed)

    def _arch_changed(self, *_args: object) -> None:
        self.follow_default_rate(self.arch.currentData())

    def _design_toggled(self, checked: bool) -> None:
        if not checked:  # back to the preset architecture shown
            self.follow_default_rate(self.arch.currentData())

    def follow_default_rate(self, preset: str) -> None:
        """A learning rate left at the last preset's own follows ``preset``'s; one the user chose stays.

        Called when the architecture changes, and when the Design tab starts from a preset.
        """
        if math.isclose(self.learning_rate.value(), default_learning_rate(self._rate_preset)):
            with QSignalBlocker(self.learning_rate):
                self.learning_rate.setValue(default_learning_rate(preset))
        self._rate_preset = preset

    def _emit_changed(self, *_args: object) -> None:
        self.padding_px.setEnabled(self.padding.currentData() == "explicit")
        preset = not self.uses_design()
        name = self._design.name if self._design is not None and not preset else ""
        # the design in use, by name: the greyed architecture above is not what Train builds
        self.use_design.setText(f"{USE_DESIGN_TEXT}: {printable(name, 14)}" if name else USE_DESIGN_TEXT)
        self.arch.setEnabled(preset)
        built = f"the design '{printable(name, 40)}'" if name else "the Design tab's layers"
        self.arch.setToolTip(ARCH_TIP if preset else f"Not used: Train builds {built}. Untick "
                             f"\u201c{USE_DESIGN_TEXT}\u201d to train this architecture.")
        self.pool_size.setEnabled(preset)  # each pooling layer of a design has its own window and stride
        self.pool_stride.setEnabled(preset)
        self.changed.emit()

    def uses_design(self) -> bool:
        return self.use_design.isChecked()

    def set_design(self, design: Design | None, problem: str | None = None) -> None:
        """The Design tab's layers (None with the ``problem`` when they make no design): selected and used."""
        self._design, self._design_problem = design, problem
        with QSignalBlocker(self.use_design):
            self.use_design.setChecked(True)
        self._emit_changed()

    def drop_design(self) -> None:
        """No design to use (the Design tab has no layers): the preset architecture is used again."""
        self._design, self._design_problem = None, None
        if self.use_design.isChecked():
            self.use_design.setChecked(False)  # toggled: the preset's own learning rate, and ``changed``
        else:
            self._emit_changed()

    def global_options(self) -> ModelOptions:
        """The network options that apply to every layer following them (no architecture or design)."""
        return self._model_options(None)

    def _model_options(self, design: Design | None) -> ModelOptions:
        padding = self.padding.currentData()
        preset = design is None and not self.uses_design()
        arch = self.arch.currentData() if preset else "lenet5"
        return ModelOptions(
            arch=arch, pooling=self.pooling.currentData(),
            pool_size=(self.pool_size.value() or None) if preset else None,
            pool_stride=(self.pool_stride.value() or None) if preset else None,
            padding=str(self.padding_px.value()) if padding == "explicit" else padding,
            activation=self.activation.currentData(),
            dropout=None if self.dropout.value() < 0 else round(self.dropout.value(), 3),
            batch_norm=self.batch_norm.isChecked(), augment=self.augment.isChecked(), design=design,
        )

    def dataset_name(self) -> str:
        return str(self.dataset.currentData())

    def _dialog_start(self) -> str:
        """Where the dataset dialogs open: beside the dataset from disk in use, else the home folder."""
        name = self.dataset_name()
        if name in BUILTIN_NAMES:
            return str(Path.home())
        path = Path(name)
        return str(path if path.is_dir() else path.parent)

    def choose_dataset_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Dataset folder: MNIST-format IDX files, or one sub-folder of images per class", self._dialog_start())
        if path:
            self.add_dataset_path(path)

    def choose_dataset_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Dataset file with x_train, y_train, x_test, y_test",
                                              self._dialog_start(), "NumPy archives (*.npz)")
        if path:
            self.add_dataset_path(path)

    def add_dataset_path(self, path: str) -> None:
        """Offer a dataset from disk in the list and select it: the user's choice, so it is read again."""
        self._offer_dataset_path(path)
        self.dataset_chosen.emit()

    def _offer_dataset_path(self, path: str) -> None:
        if self.dataset.findData(path) < 0:
            self.dataset.addItem(f"{Path(path).name or path} (from disk)", path)
            self.dataset.setItemData(self.dataset.count() - 1, path, Qt.ToolTipRole)
        _select(self.dataset, path)

    def experiment(self) -> Experiment:
        """The options shown; ``ConfigError`` when the Design tab's layers are chosen but make no design."""
        design = None
        if self.uses_design():
            if self._design_problem:
                raise ConfigError(self._design_problem)
            if self._design is None:
                raise ConfigError("the design has no layers yet: add them in the Design tab, or start from a preset")
            design = self._design
        model = self._model_options(design)
        train = TrainOptions(
            epochs=self.epochs.value(), batch_size=self.batch_size.value(), optimizer=self.optimizer.currentData(),
            learning_rate=self.learning_rate.value(), lr_schedule=self.lr_schedule.currentData(),
            validation_split=round(self.validation.value(), 3), early_stopping_patience=self.patience.value(),
            seed=self.seed.value(),
        )
        return Experiment(model, train, self.dataset_name())

    def set_experiment(self, experiment: Experiment) -> None:
        """Show ``experiment`` (emits ``changed`` once)."""
        m, t = experiment.model, experiment.train
        self._rate_preset = m.arch if m.design is None else self.arch.currentData()
        with ExitStack() as blocked:
            for widget in self.findChildren(QWidget):
                blocked.enter_context(QSignalBlocker(widget))
            if m.design is not None:
                self._design, self._design_problem = m.design, None
            else:
                _select(self.arch, m.arch)
            self.use_design.setChecked(m.design is not None)
            _select(self.pooling, m.pooling)
            self.pool_size.setValue(m.pool_size or 0)
            self.pool_stride.setValue(m.pool_stride or 0)
            if m.padding.isdigit():
                _select(self.padding, "explicit")
                self.padding_px.setValue(max(1, int(m.padding)))
            else:
                _select(self.padding, m.padding)
            _select(self.activation, m.activation)
            self.dropout.setValue(-0.05 if m.dropout is None else m.dropout)
            self.batch_norm.setChecked(m.batch_norm)
            self.augment.setChecked(m.augment)
            self._offer_dataset_path(experiment.dataset)
            self.epochs.setValue(t.epochs)
            self.batch_size.setValue(t.batch_size)
            _select(self.optimizer, t.optimizer)
            self.learning_rate.setValue(t.learning_rate)
            _select(self.lr_schedule, t.lr_schedule)
            self.patience.setValue(t.early_stopping_patience)
            self.validation.setValue(t.validation_split)
            self.seed.setValue(t.seed)
        self._emit_changed()
