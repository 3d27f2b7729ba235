"""The precision a network computes in, from the dtype policies of its layers (Keras' names)."""

from __future__ import annotations

from collections.abc import Iterable


def computing_precision(policies: Iterable[str]) -> str | None:
    """The first mixed policy (``mixed_float16``, ``mixed_bfloat16``) among a network's layer policies,
    else the first policy; None when there is none.

    A mixed-precision network keeps a float32 output layer (and Keras gives a loaded model a float32
    wrapper), so one float32 policy says nothing: a mixed one anywhere decides.
    """
    names = list(policies)
    return next((name for name in names if name.startswith("mixed_")), names[0] if names else None)
