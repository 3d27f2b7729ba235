"""The window opens every hostile model file of the reliability suite: one message, and it stays usable.

The same generators as the command-line suite (``reliability_cases``): each bad model file or record
is opened through File → Open in one window, one after another. A file the command line refuses must
give one window-modal message of one line (no control characters) and leave the window idle with
nothing open and Train, Open and New enabled; a file it repairs must open.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
from gui_helpers import WAIT_MS  # noqa: E402
from reliability_cases import Inputs, model_cases, record_cases  # noqa: E402

from cnnstudio.ui.app_state import Activity  # noqa: E402

# Opened: an uncompiled model, class names with control characters (shown escaped), and a record
# naming a dataset path (the window asks before it reads that path; see test_gui_hardening.py).
OPENS = {"uncompiled", "class-name-control-characters", "dataset-is-root", "dataset-is-home"}


def _file_cases(inputs: Inputs) -> dict[str, tuple[object, str]]:
    """One case per distinct file (the command suffix dropped): its maker and the file to open."""
    found: dict[str, tuple[object, str]] = {}
    for case in model_cases(inputs) + record_cases(inputs):
        stem = case.name.rsplit("-", 1)[0]
        target = next((arg for arg in case.argv if arg.endswith((".keras", ".h5"))), None)
        if target is None or stem in found:
            continue
        found[stem] = (case.make, target)
    return found


def test_every_hostile_model_file_is_a_message_or_opens(qtbot, make_window, tmp_path) -> None:
    inputs = Inputs(tmp_path / "inputs").build()
    window = make_window()
    problems, tried = [], 0
    for stem, (make, target) in sorted(_file_cases(inputs).items()):
        folder = tmp_path / "cases" / stem
        folder.mkdir(parents=True)
        make(folder)
        path = folder / target
        if not (path.exists() or path.is_symlink()):
            continue
        tried += 1
        window.workspace.clear()
        window.last_message = None
        window.files.open_model_path(str(path))
        qtbot.waitUntil(lambda: not window.busy and (window.last_message is not None
                                                     or window.workspace.model is not None), timeout=WAIT_MS)
        box = window.last_message
        if stem in OPENS:
            if window.workspace.model is None:
                problems.append(f"{stem}: did not open ({box.text() if box else 'no message'})")
            continue
        if box is None or not box.isVisible():
            problems.append(f"{stem}: no message")
            continue
        text = box.text()
        box.close()
        if "\n" in text or "\x1b" in text or "Traceback" in text or "internal error" in text:
            problems.append(f"{stem}: message is not one clean line: {text!r}")
        if not (window.state.activity is Activity.IDLE and window.workspace.model is None
                and window.train_button.isEnabled() and window.files.open_action.isEnabled()
                and window.files.new_action.isEnabled()):
            problems.append(f"{stem}: the window is not left usable ({window.state.activity}, model "
                            f"{window.workspace.model is not None}, train {window.train_button.isEnabled()}, open "
                            f"{window.files.open_action.isEnabled()}, new {window.files.new_action.isEnabled()})")
    assert tried >= 50, tried
    assert not problems, "\n".join(problems)
