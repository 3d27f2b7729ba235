"""The "Runs on" group: device, mixed precision and XLA for the runs to come (state only, no TensorFlow).

Until TensorFlow has loaded the device list holds only Automatic and CPU; :meth:`set_devices` then
adds one entry per GPU (and "All GPUs" for two or more). A remembered choice that names a device
no longer present stays listed as "GPU 3 (not found: using the CPU)": :func:`plan_execution` falls
back and says so (a remembered float16 wish too, until the user picks a device that cannot have
it). Until the list is known it shows as "GPU 3 (looking for it…)".
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QWidget

from cnnstudio.core.training.devices import MIXED_PRECISION_CAPABILITY, DeviceInfo, parse_device
from cnnstudio.core.training.execution import Execution, plan_execution

XLA_CHOICES = {None: "Automatic", True: "On", False: "Off"}
MIXED_NEEDS = ("needs a GPU of compute capability {}.{} or newer, or a CPU with bfloat16 instructions "
               "(AVX-512 BF16 or AMX)").format(*MIXED_PRECISION_CAPABILITY)
MIXED_ON_GPU = "Compute in float16 with float32 weights: faster and lighter on tensor-core GPUs."
MIXED_ON_CPU = ("Compute in bfloat16 with float32 weights: this CPU has bfloat16 instructions, which make "
                "convolutions faster (results differ slightly from float32).")


def device_items(devices: Sequence[DeviceInfo] | None) -> list[tuple[str, str]]:
    """(request, label) for every choice the devices offer; Automatic and CPU only while unknown (None)."""
    items = [("auto", "Automatic (best available)"), ("cpu", "CPU")]
    gpus = [d for d in devices or () if d.kind.upper() == "GPU"]
    for i, gpu in enumerate(gpus):
        capability = f", compute {gpu.compute_capability[0]}.{gpu.compute_capability[1]}" if gpu.compute_capability else ""
        items.append((f"gpu:{i}", f"GPU {i}: {gpu.description}{capability}"))
    if len(gpus) >= 2:
        items.append(("all-gpus", f"All GPUs ({len(gpus)}, MirroredStrategy)"))
    return items


def request_label(request: str) -> str:
    """A device request as the list shows it: ``gpu:3`` as "GPU 3", ``all-gpus`` as "All GPUs"."""
    if request.startswith("gpu:"):
        return f"GPU {request.removeprefix('gpu:')}"
    return {"all-gpus": "All GPUs", "cpu": "CPU", "auto": "Automatic"}.get(request, request)


class DeviceChoice(QGroupBox):
    """Edits where runs train; ``changed`` fires when the user changes any of it."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Runs on", parent)
        self.device = QComboBox()
        self.device.setToolTip("Where new networks are built and trained. Automatic: the GPU with the most memory "
                               "when TensorFlow sees one, else the CPU. All GPUs splits every batch across them "
                               "(the batch size is per GPU). A continued model keeps the devices it was made on.")
        self.mixed = QCheckBox("Mixed precision")
        self.xla = QComboBox()
        for value, label in XLA_CHOICES.items():
            self.xla.addItem(label, value)
        self.xla.setToolTip("Compile each training step with XLA. Automatic: Keras decides (on where supported, "
                            "never on the CPU or under a distribution strategy).")
        for combo in (self.device, self.xla):
            combo.setMinimumContentsLength(12)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        form = QFormLayout(self)
        form.addRow("Device", self.device)
        options = QHBoxLayout()  # one row for both: the panel is tall already
        options.addWidget(self.mixed)
        options.addStretch(1)
        options.addWidget(QLabel("XLA"))
        options.addWidget(self.xla)
        form.addRow(options)
        self._devices: tuple[DeviceInfo, ...] | None = None
        self._wanted, self._mixed_wanted = "auto", False
        self._fill()
        self.device.currentIndexChanged.connect(self._device_picked)
        self.mixed.toggled.connect(self._mixed_picked)
        self.xla.currentIndexChanged.connect(lambda _i: self.changed.emit())

    # state ----------------------------------------------------------------------------------
    @property
    def devices_known(self) -> bool:
        return self._devices is not None

    def choice(self) -> str:
        """The device asked for: ``auto``, ``cpu``, ``gpu:N`` or ``all-gpus`` (remembered even before it is listed)."""
        return self._wanted

    def mixed_precision(self) -> bool:
        """Whether float16 is asked for (the plan may still refuse it: see :meth:`execution`)."""
        return self._mixed_wanted

    def xla_choice(self) -> bool | None:
        return self.xla.currentData()

    def execution(self) -> Execution:
        """The execution of the choice on the listed devices (pure: no TensorFlow call)."""
        return plan_execution(self._wanted, self._mixed_wanted, self.xla_choice(), self._devices or ())

    def set_choice(self, device: str, mixed_precision: bool, xla: bool | None) -> None:
        """Show a remembered choice (no ``changed``); ``ValueError`` for a device :func:`parse_device` refuses."""
        self._wanted, self._mixed_wanted = str(parse_device(device)), bool(mixed_precision)
        with QSignalBlocker(self.xla):
            self.xla.setCurrentIndex(max(0, self.xla.findData(xla)))
        self._fill()

    def set_devices(self, devices: Sequence[DeviceInfo]) -> None:
        """The devices TensorFlow lists (CPUs and GPUs), once it has loaded."""
        self._devices = tuple(devices)
        self._fill()

    # display --------------------------------------------------------------------------------
    def _fill(self) -> None:
        items = device_items(self._devices)
        if self._wanted not in dict(items):  # remembered, and not (or not yet) listed
            items.append((self._wanted, self._unlisted_label()))
        with QSignalBlocker(self.device):
            self.device.clear()
            for value, label in items:
                self.device.addItem(label, value)
            self.device.setCurrentIndex(max(0, self.device.findData(self._wanted)))
        self._show_mixed()

    def _unlisted_label(self) -> str:
        """"GPU 3 (not found: using the CPU)", or "GPU 3 (looking for it…)" while TensorFlow loads."""
        name = request_label(self._wanted)
        if self._devices is None:
            return f"{name} (looking for it…)"
        plan = self.execution().plan
        instead = f"GPU {plan.devices[0].rsplit(':', 1)[-1]}" if plan.on_gpu else "the CPU"
        return f"{name} (not found: using {instead})"

    def _show_mixed(self) -> None:
        plan = self.execution().plan
        allowed = plan.mixed_precision_allowed
        with QSignalBlocker(self.mixed):
            self.mixed.setChecked(self._mixed_wanted and allowed)
        self.mixed.setEnabled(allowed)
        if allowed:
            self.mixed.setToolTip(MIXED_ON_GPU if plan.on_gpu else MIXED_ON_CPU)
        else:
            self.mixed.setToolTip(f"Not for this device: mixed precision {MIXED_NEEDS}.")

    def _device_picked(self, _index: int) -> None:
        self._wanted = str(self.device.currentData())
        if not self.execution().plan.mixed_precision_allowed:  # picked here: float16 is off, as the box shows
            self._mixed_wanted = False
        self._show_mixed()
        self.changed.emit()

    def _mixed_picked(self, on: bool) -> None:
        self._mixed_wanted = on
        self.changed.emit()
