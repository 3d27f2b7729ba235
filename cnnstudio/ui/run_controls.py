"""Train, Stop and Continue: the buttons under the options and the Run menu with their shortcuts."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QHBoxLayout, QMenuBar, QPushButton, QWidget

from cnnstudio.ui.app_state import Enabled

TRAIN_TIP = "Build a new network from these options and train it (on a worker thread). (Ctrl+Enter)"
STOP_TIP = ("End the run within about a tenth of a second, after the batches in progress (small networks run several "
            "per compiled call); the model is kept. Pressed while the model is tested, it skips the test. (Esc)")
CONTINUE_TIP = ("Train the current model for more epochs with these training options (the network and dataset stay "
                "as they are). (Ctrl+Shift+Enter)")
# key, menu text, shortcuts
MENU = (("train", "&Train", ("Ctrl+Return", "Ctrl+Enter")), ("stop", "&Stop", ("Esc", "Ctrl+.")),
        ("continue", "&Continue", ("Ctrl+Shift+Return", "Ctrl+Shift+Enter")))


class RunControls(QWidget):
    """The three buttons in a row; :meth:`build_menu` adds the Run menu that clicks them from the keyboard."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.train_button, self.stop_button, self.continue_button = (
            QPushButton("Train"), QPushButton("Stop"), QPushButton("Continue"))
        self.buttons = {"train": self.train_button, "stop": self.stop_button, "continue": self.continue_button}
        for button, tip in zip(self.buttons.values(), (TRAIN_TIP, STOP_TIP, CONTINUE_TIP)):
            button.setToolTip(tip)
        self.train_button.setDefault(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for button in self.buttons.values():
            layout.addWidget(button)
        self.actions: dict[str, QAction] = {}

    def build_menu(self, bar: QMenuBar) -> None:
        """Train (Ctrl+Enter), Stop (Esc or Ctrl+.) and Continue (Ctrl+Shift+Enter)."""
        menu = bar.addMenu("&Run")
        for key, text, keys in MENU:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.triggered.connect(self.buttons[key].click)  # a disabled button does nothing
            menu.addAction(action)
            self.actions[key] = action

    def apply(self, enabled: Enabled) -> None:
        """What may be done now; when a run starts, focus moves to Stop (the key that started it stops it)."""
        starting = enabled.stop and QApplication.focusWidget() in (self.train_button, self.continue_button, None)
        for key, on in (("train", enabled.train), ("stop", enabled.stop), ("continue", enabled.continue_)):
            self.buttons[key].setEnabled(on)
            if key in self.actions:
                self.actions[key].setEnabled(on)
        if starting:
            self.stop_button.setFocus()
        blocked = enabled.train_blocked
        self.train_button.setToolTip(TRAIN_TIP if blocked is None else f"Train is unavailable: {blocked}.")
