"""Whether a run learned anything: a loss still at chance level after whole epochs says it did not.

A network whose outputs stay uniform has a cross-entropy of ln(classes) and chance accuracy. That
is what AlexNet did on MNIST at Adam 0.002 (loss 2.42, 2.30, 2.30 over three epochs), while 0.0001
trained it to 98.96% (docs/benchmarks.md). The run itself is fine, so this is a warning, not an error.
"""

from __future__ import annotations

import math

STUCK_EPOCHS = 2  # the last two epochs must both be at chance: one can be a slow start
LOSS_SHARE = 0.98  # a training loss within 2% of ln(classes)
ACCURACY_FACTOR = 1.2  # a training accuracy of at most 1.2 × chance
HIGH_LEARNING_RATE = 1e-3  # above it, a rate too high is the likely cause; at or below, one too low


def not_learning(history: dict[str, list[float]], classes: int, learning_rate: float) -> str | None:
    """One line when the run's last epochs (``history`` as ``fit`` logged them) stayed at chance, else None."""
    losses, accuracies = history.get("loss", []), history.get("accuracy", [])
    if classes < 2 or min(len(losses), len(accuracies)) < STUCK_EPOCHS:
        return None
    chance_loss = math.log(classes)
    recent = zip(losses[-STUCK_EPOCHS:], accuracies[-STUCK_EPOCHS:])
    if not all(math.isfinite(loss) and loss >= LOSS_SHARE * chance_loss and accuracy <= ACCURACY_FACTOR / classes
               for loss, accuracy in recent):
        return None
    advice = (f"try a lower learning rate than {learning_rate:g} (AlexNet trains at 0.0001)"
              if learning_rate > HIGH_LEARNING_RATE else
              f"try a higher learning rate than {learning_rate:g}, or another optimizer")
    return (f"the network did not learn: after {len(losses)} epochs its training loss is {losses[-1]:.2f}, chance "
            f"level (ln {classes} = {chance_loss:.2f}), and its accuracy {accuracies[-1]:.1%}; {advice}")
