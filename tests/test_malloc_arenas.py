"""The desktop app caps glibc's malloc arenas before its threads start (docs/benchmarks.md, memory)."""

from __future__ import annotations

import platform
import sys

import pytest

from cnnstudio.malloc_arenas import cap_malloc_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt's arena cap is glibc's (Linux)")
def test_the_arena_cap_is_set_on_glibc_unless_the_user_chose(monkeypatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert cap_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the user's own setting is left alone
    assert cap_malloc_arenas() is False


def test_other_systems_are_left_alone(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cap_malloc_arenas() is False
