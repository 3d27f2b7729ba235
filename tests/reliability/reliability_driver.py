"""Runs many ``cnnstudio`` command lines in one process (TensorFlow loads once), one JSON line per case.

    python reliability_driver.py CASES.json RESULTS.jsonl [SKIP]

Each case runs through the real parser and ``cli.run_command`` (the one-line contract) with its
own environment, working folder and a time limit (SIGALRM: a case that blocks is reported as a
hang). Around each case the driver snapshots the case's folder, so files damaged or left behind
are reported too. A case that kills the process leaves no line; the caller restarts the driver
after it and counts a crash.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path


class Hang(BaseException):  # noqa: N818 - BaseException, so no ``except Exception`` in the code under test eats it
    """A case ran past its time limit."""


def _on_alarm(_signum: int, _frame: object) -> None:
    raise Hang


def snapshot(folder: Path) -> dict[str, list[int]]:
    """Every entry under ``folder`` (symlinks and special files not followed): size, mtime, mode."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            found[os.path.relpath(path, folder)] = [info.st_size, info.st_mtime_ns, info.st_mode]
    return found


def run_case(case: dict, cli: object) -> dict:
    folder = Path(case["folder"])
    before = snapshot(folder)
    saved_env = {key: os.environ.get(key) for key in case.get("env", {})}
    os.environ.update(case.get("env", {}))
    here = os.getcwd()
    os.chdir(folder)
    out, err = io.StringIO(), io.StringIO()
    outcome, started = None, time.monotonic()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(case.get("timeout", 60)))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                args = cli.build_parser().parse_args(case["argv"])
                outcome = cli.run_command(args, None)
            except SystemExit as exc:  # argparse's own usage errors
                outcome = exc.code if isinstance(exc.code, int) else 2
    except Hang:
        outcome = "hang"
    except BaseException as exc:  # noqa: BLE001 - anything escaping the contract is what this suite looks for
        outcome = "escaped"
        err.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    finally:
        signal.alarm(0)
        os.chdir(here)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    after = snapshot(folder)
    return {"name": case["name"], "rc": outcome, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "seconds": round(time.monotonic() - started, 3),
            "added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after)),
            "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k]
                              and not os.path.isdir(folder / k))}


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    skip = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import logging

    from cnnstudio import cli
    from cnnstudio.core.logs import setup_logging

    setup_logging(False)  # as ``cnnstudio`` does: records to the log file (in the driver's own home), not stderr
    logging.captureWarnings(True)

    with open(sys.argv[2], "a", encoding="utf-8") as results:
        for case in cases[skip:]:
            results.write(json.dumps(run_case(case, cli)) + "\n")
            results.flush()


if __name__ == "__main__":
    main()
