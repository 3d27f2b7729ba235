"""The GUI's "Runs on" choice (devices, float16, XLA) and the Study tab's "Run the study on" Ray choice (pytest-qt, offscreen)."""

from __future__ import annotations

import threading

import pytest
from gui_helpers import WAIT_MS, set_options, train_and_wait
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from cnnstudio.core.errors import CnnStudioError
from cnnstudio.core.training import devices as devices_module
from cnnstudio.core.training.devices import DeviceInfo

CPU = DeviceInfo("/physical_device:CPU:0", "CPU", "/physical_device:CPU:0")
OLD_GPU = DeviceInfo("/physical_device:GPU:0", "GPU", "Tesla P100-PCIE-16GB", (6, 0), 16 << 30)
NEW_GPU = DeviceInfo("/physical_device:GPU:1", "GPU", "NVIDIA A100-SXM4-40GB", (8, 0), 40 << 30)


def _fake_devices(monkeypatch, devices) -> None:
    """load_backend lists these instead of what TensorFlow sees (memory growth still runs for real)."""
    monkeypatch.setattr(devices_module, "list_devices", lambda tf_module=None: list(devices))


def _items(combo) -> list[tuple[str, str]]:
    return [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]


def _pick(combo, value) -> None:
    index = combo.findData(value)
    assert index >= 0, f"{value!r} is not offered: {_items(combo)}"
    combo.setCurrentIndex(index)


def _about_text(window, monkeypatch) -> str:
    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda _parent, _title, text: shown.append(text))
    window.show_about()
    return shown[0]


def test_device_list_waits_for_tensorflow_then_offers_each_gpu(qtbot, make_window, monkeypatch, settings) -> None:
    _fake_devices(monkeypatch, [CPU, OLD_GPU, NEW_GPU])
    window = make_window(wait_for_backend=False)
    choice = window.panel.device_choice
    assert [value for value, _ in _items(choice.device)] == ["auto", "cpu"]  # TensorFlow not loaded yet
    qtbot.waitUntil(lambda: window.runtime is not None, timeout=WAIT_MS)
    assert _items(choice.device) == [
        ("auto", "Automatic (best available)"), ("cpu", "CPU"),
        ("gpu:0", "GPU 0: Tesla P100-PCIE-16GB, compute 6.0"), ("gpu:1", "GPU 1: NVIDIA A100-SXM4-40GB, compute 8.0"),
        ("all-gpus", "All GPUs (2, MirroredStrategy)")]

    _pick(choice.device, "gpu:0")
    assert not choice.mixed.isEnabled() and "compute capability 7.0 or newer" in choice.mixed.toolTip()
    _pick(choice.device, "all-gpus")  # one of the two is too old
    assert not choice.mixed.isEnabled()
    _pick(choice.device, "gpu:1")
    assert choice.mixed.isEnabled()
    choice.mixed.setChecked(True)
    _pick(choice.xla, False)
    window.panel.batch_size.setValue(32)
    assert window.device_label.text() == ("gpu:1 (NVIDIA A100-SXM4-40GB), batch 32, mixed_float16, no XLA · "
                                          f"TensorFlow {window.runtime.tensorflow} · Keras {window.runtime.keras}")

    again = make_window(settings=settings)  # a second start with the same settings
    restored = again.panel.device_choice
    assert restored.device.currentData() == "gpu:1" and restored.mixed.isChecked() and restored.xla.currentData() is False
    assert again.device_label.text().startswith("gpu:1 (NVIDIA A100-SXM4-40GB), batch ")
    assert "mixed_float16, no XLA" in again.device_label.text()


def test_remembered_gpu_missing_here_falls_back_with_a_notice(qtbot, make_window, monkeypatch, settings) -> None:
    _fake_devices(monkeypatch, [CPU])
    settings.set_device("gpu:3")
    settings.set_mixed_precision(True)
    window = make_window()
    notice = "no GPU is visible to TensorFlow: using the CPU instead of gpu:3"
    message = window.statusBar().currentMessage()
    assert notice in message and "mixed precision needs a GPU, or a CPU with bfloat16 instructions" in message
    choice = window.panel.device_choice
    assert choice.device.currentText() == "GPU 3 (not found: using the CPU)" and not choice.mixed.isEnabled()
    assert window.device_label.text().startswith("CPU, batch ") and ", float32 ·" in window.device_label.text()
    assert notice in _about_text(window, monkeypatch)

    _pick(choice.device, "cpu")  # the user's own pick: a device that exists, float16 off as the box shows
    assert settings.device() == "cpu" and not settings.mixed_precision()
    assert window.panel.device_choice.execution().notices == ()


def test_a_cpu_with_bfloat16_offers_mixed_precision_in_bfloat16(qtbot, make_window, monkeypatch, settings) -> None:
    from cnnstudio.ui.device_choice import MIXED_ON_CPU, MIXED_ON_GPU

    _fake_devices(monkeypatch, [DeviceInfo("/physical_device:CPU:0", "CPU", "CPU", bfloat16=True), NEW_GPU])
    window = make_window()
    choice = window.panel.device_choice
    _pick(choice.device, "cpu")
    assert choice.mixed.isEnabled() and choice.mixed.toolTip() == MIXED_ON_CPU
    choice.mixed.setChecked(True)
    assert ", mixed_bfloat16 ·" in window.device_label.text() and settings.mixed_precision()
    assert "precision policy: mixed_bfloat16" in _about_text(window, monkeypatch)
    _pick(choice.device, "gpu:0")  # the A100: float16 there, as the tooltip says
    assert choice.mixed.isChecked() and choice.mixed.toolTip() == MIXED_ON_GPU
    assert ", mixed_float16 ·" in window.device_label.text()


def test_a_remembered_device_reads_as_a_device_while_loading_and_when_missing(qtbot) -> None:
    from cnnstudio.ui.device_choice import DeviceChoice

    choice = DeviceChoice()
    qtbot.addWidget(choice)
    choice.set_choice("gpu:1", False, None)  # TensorFlow still loading: not "Automatic", which it is not
    assert choice.device.currentText() == "GPU 1 (looking for it…)" and choice.choice() == "gpu:1"
    choice.set_devices([CPU, OLD_GPU, NEW_GPU])
    assert choice.device.currentText() == "GPU 1: NVIDIA A100-SXM4-40GB, compute 8.0"
    assert "GPU 1 (looking for it…)" not in [text for _value, text in _items(choice.device)]
    choice.set_choice("all-gpus", False, None)
    choice.set_devices([CPU, OLD_GPU])  # one GPU left: "All GPUs" falls back to it
    assert choice.device.currentText() == "All GPUs (not found: using GPU 0)"


def test_an_unusable_nvidia_gpu_is_explained_in_the_status_bar_and_about(qtbot, make_window, monkeypatch,
                                                                          tmp_path) -> None:
    """NVIDIA's driver files faked under a temporary root (no libcuda here): the reason reaches the user."""
    import html
    from pathlib import Path

    import cnnstudio.core.training.gpu_check as gpu_check

    (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
    (tmp_path / "proc/driver/nvidia/version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14\n")
    real_init = gpu_check.GpuSystem.__init__
    monkeypatch.setattr(gpu_check.GpuSystem, "load", lambda self, library: f"{library}: cannot open shared object file")
    monkeypatch.setattr(gpu_check.GpuSystem, "__init__",
                        lambda self, root=Path("/"), **kw: real_init(self, tmp_path, **kw))
    _fake_devices(monkeypatch, [CPU])
    window = make_window()
    reason = ("an NVIDIA GPU is present (driver 550.54.14), but the NVIDIA driver's libcuda.so.1 cannot be loaded "
              "(libcuda.so.1: cannot open shared object file): reinstall the driver")
    assert reason in window.runtime.notices
    shown = window.statusBar().currentMessage()  # cut to one readable line: About has it all
    assert shown.startswith(reason[:100]) and shown.endswith("… (all of it in Help → About)") and len(shown) < 200
    assert html.escape(reason) in _about_text(window, monkeypatch)  # the About box is HTML


def test_training_on_the_cpu_without_xla_records_where_it_ran(qtbot, make_window, monkeypatch) -> None:
    import tensorflow as tf

    window = make_window()
    choice = window.panel.device_choice
    _pick(choice.device, "cpu")
    _pick(choice.xla, False)
    set_options(window, epochs=1)
    train_and_wait(qtbot, window)
    entries, warnings = window.history.entries()
    assert not warnings and [entry.device for entry in entries] == ["CPU, batch 64, float32, no XLA"]

    about = _about_text(window, monkeypatch)
    assert "Training runs on: CPU, float32, no XLA" in about and "Replicas: 1" in about
    assert "precision policy: float32" in about and "XLA: off" in about
    build = tf.sysconfig.get_build_info()
    if build.get("is_cuda_build"):  # each name bound to its version (HTML non-breaking spaces)
        assert f"CUDA&nbsp;{build['cuda_version']}" in about and f"cuDNN&nbsp;{build['cudnn_version']}" in about
        assert ("unused: no&nbsp;GPU&nbsp;found" in about) == (not window.runtime.gpus)


# the Study tab on Ray: run_study_on_ray itself is tested for real in test_ray_study.py ------------------------


def _ray_study(window, qtbot) -> list:
    """Choose Ray at "local" through the widgets; the experiments the study will run."""
    set_options(window, epochs=1)
    view = window.study_view
    view.on_ray.setChecked(True)
    assert view.address.text() == "local" and view.run_button.isEnabled()
    window.tabs.setCurrentWidget(view)
    return view.experiments()


def _entry(experiment, accuracy: float):
    from cnnstudio.core.experiments.run_history import RunEntry

    return RunEntry(experiment=experiment.to_dict(), history={"loss": [0.5], "accuracy": [accuracy]},
                    seconds_per_epoch=[1.0], test_accuracy=accuracy, test_loss=0.4, params=100, macs=1000,
                    device="CPU", study="study on ray")


def test_study_on_ray_records_the_runs_and_lists_the_failures(qtbot, make_window, monkeypatch, settings) -> None:
    from cnnstudio.core.experiments import ray_study
    from cnnstudio.core.experiments.ray_study import RayRunResult

    calls = []

    def fake_run_study_on_ray(experiments, dataset_name, *, address, history, stop, listener, on_run_start,
                              on_run_done):
        calls.append((dataset_name, address, threading.current_thread() is threading.main_thread()))
        results = []
        for i, experiment in enumerate(experiments):
            on_run_start(i, experiment)
            if i == 1:
                result = RayRunResult(i, experiment, error="run 2: ResourceExhaustedError: out of memory")
            else:
                entry = _entry(experiment, 0.5 + i / 100)
                history.add(entry)
                result = RayRunResult(i, experiment, summary=entry, entry=entry)
            on_run_done(i, result)
            results.append(result)
        return results

    monkeypatch.setattr(ray_study, "run_study_on_ray", fake_run_study_on_ray)
    window = make_window()
    experiments = _ray_study(window, qtbot)
    assert settings.ray_address() == "local"
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        qtbot.mouseClick(window.study_view.run_button, Qt.LeftButton)

    assert calls == [("digits", "local", False)]  # the dataset's name, on the worker thread
    assert window.study_view.table.rowCount() == len(experiments) - 1
    assert window.study_view.status.text() == f"Study finished: {len(experiments) - 1} runs"
    assert len(window.history.entries()[0]) == len(experiments) - 1
    failure = window.last_message
    assert failure.windowTitle() == "Some study runs failed"
    assert failure.text() == "1 run failed on Ray:\nrun 2: ResourceExhaustedError: out of memory"
    failure.close()
    assert window.study_view.run_button.isEnabled() and window.train_button.isEnabled()

    again = make_window(settings=settings)  # the choice is remembered
    assert again.study_view.on_ray.isChecked() and again.study_view.ray_address() == "local"


def test_study_on_ray_without_ray_says_how_to_install_it(qtbot, make_window, monkeypatch) -> None:
    from cnnstudio.core.experiments import ray_study

    def missing(*_args, **_kwargs):
        raise CnnStudioError(ray_study.RAY_MISSING)

    monkeypatch.setattr(ray_study, "run_study_on_ray", missing)
    window = make_window()
    _ray_study(window, qtbot)
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        window.study_view.run_button.click()
    assert window.last_message.text() == ray_study.RAY_MISSING
    assert window.last_message.windowTitle().startswith("Study failed")  # not "Training failed": no run trained
    window.last_message.close()
    assert window.study_view.run_button.isEnabled() and not window.training


def test_stop_cancels_a_study_on_ray(qtbot, make_window, monkeypatch) -> None:
    from cnnstudio.core.experiments import ray_study

    running, stopped = threading.Event(), threading.Event()

    def until_stopped(experiments, dataset_name, *, stop, on_run_start, **_kwargs):
        on_run_start(0, experiments[0])
        running.set()
        while not stop.requested:  # as the real driver polls the stop flag between Ray waits
            stopped.wait(0.01)
        stopped.set()
        return []

    monkeypatch.setattr(ray_study, "run_study_on_ray", until_stopped)
    window = make_window()
    total = len(_ray_study(window, qtbot))
    window.study_view.run_button.click()
    qtbot.waitUntil(running.is_set, timeout=WAIT_MS)
    assert window.study_view.stop_button.isEnabled()
    with qtbot.waitSignal(window.training_finished, timeout=WAIT_MS):
        window.study_view.stop_button.click()
    assert stopped.is_set() and window.study_view.status.text() == f"Study stopped: 0 of {total} runs recorded"


@pytest.mark.parametrize(("address", "accepted"), [
    ("local", True), ("auto", True), (" 10.0.0.5:6379 ", True), ("ray://head.example:10001", True), ("[::1]:6379", True),
    ("", False), ("head.example", False), ("ray://head:port", False), ("host:99999", False), ("my host:1", False),
    ("http://127.0.0.1:1", False), ("user@head:6379", False), ("head/x:6379", False), ("ray://:1", False),
    ("host:\u00b2", False)])
def test_ray_addresses(address, accepted) -> None:
    from cnnstudio.core.experiments.ray_study import ray_address_problem

    assert (ray_address_problem(address) is None) is accepted


def test_a_bad_ray_address_keeps_the_study_from_starting(qtbot, make_window) -> None:
    window = make_window()
    _ray_study(window, qtbot)
    view = window.study_view
    view.address.selectAll()
    qtbot.keyClicks(view.address, "head.example")
    assert not view.run_button.isEnabled() and "not a Ray address" in view.count.text()
    qtbot.keyClicks(view.address, ":6379")
    assert view.run_button.isEnabled() and window.settings.last_ray_address() == "head.example:6379"
    assert view.count.text().endswith("runs × 1 epoch")
    view.here.setChecked(True)  # this computer: the address no longer matters
    assert not view.address.isEnabled() and window.settings.ray_address() is None


def test_many_ray_failures_are_listed_in_one_message() -> None:
    from cnnstudio.ui.training_controller import failures_text

    errors = [f"run {i}: cannot reach the Ray cluster" for i in range(1, 13)]
    message, details = failures_text(errors, shown=8)
    assert message.splitlines() == ["12 runs failed on Ray:", *errors[:8], "… and 4 more"]
    assert details.splitlines() == errors
    assert failures_text(errors[:1]) == ("1 run failed on Ray:\nrun 1: cannot reach the Ray cluster", "")


@pytest.mark.parametrize(("stored", "read"), [("gpu:2", "gpu:2"), ("all-gpus", "all-gpus"), ("cpu", "cpu"),
                                              ("workers", "auto"), ("GPU:1", "gpu:1"), ("tpu:0", "auto"), ("", "auto")])
def test_settings_remember_only_devices_the_gui_offers(settings, stored, read) -> None:
    settings.store.setValue("devices/device", stored)
    assert settings.device() == read


def test_status_text_keeps_notices_to_one_readable_line() -> None:
    from cnnstudio.ui.device_controller import STATUS_LIMIT, status_text

    assert status_text([]) == "" and status_text([], "Training…") == "Training…"
    assert status_text(["a", "b"], "Training…") == "Training… — a; b"
    long = ["an NVIDIA GPU is present (driver 550.54.14), but " + "x" * 300, "no GPU is visible"]
    cut = status_text(long, "Training…")
    assert cut.startswith("Training… — an NVIDIA GPU is present") and cut.endswith("… (all of it in Help → About)")
    assert len(cut) <= len("Training… — ") + STATUS_LIMIT + len("… (all of it in Help → About)")


def test_about_shows_paths_as_text_not_html(qtbot, monkeypatch) -> None:
    from pathlib import Path

    from cnnstudio.ui.about import show_about

    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda _parent, _title, text: shown.append(text))
    show_about(None, None, Path("/tmp/<i>runs</i>&x"), "/tmp/<b>settings.ini")
    assert "/tmp/&lt;i&gt;runs&lt;/i&gt;&amp;x" in shown[0] and "/tmp/&lt;b&gt;settings.ini" in shown[0]
    assert "<b>" not in shown[0] and "<i>" not in shown[0]
