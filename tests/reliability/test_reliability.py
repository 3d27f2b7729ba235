"""The reliability suite: every hostile input of every family gets one clear line and loses nothing.

All cases run in one driver process (TensorFlow loads once; see ``reliability_driver.py``), each in
its own folder, with its own environment and time limit. The counts per family are printed at the
end of the session (they are the figures in docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from reliability_cases import MARKER, Case, Inputs, families

DRIVER = Path(__file__).with_name("reliability_driver.py")
CASE_IDS = [case.id for case in families(Inputs(Path("not-built")))]
COUNTS: dict[str, Counter] = {}


def _environment(root: Path) -> dict[str, str]:
    """The driver's environment: private homes for everything a command could write to."""
    homes = {name: root / "homes" / name for name in ("HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME",
                                                      "XDG_CACHE_HOME", "KERAS_HOME", "CNNSTUDIO_HOME")}
    for folder in homes.values():
        folder.mkdir(parents=True, exist_ok=True)
    base = {key: value for key, value in os.environ.items() if key != "CNNSTUDIO_DEBUG"}
    return {**base, **{key: str(value) for key, value in homes.items()}, "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": ""}


def _run_all(cases: list[Case], root: Path) -> dict[str, dict]:
    """Run every case through the driver, restarting it after a case that kills it (counted as a crash)."""
    plan = []
    for case in cases:
        folder = root / "cases" / case.family / case.name
        folder.mkdir(parents=True)
        case.make(folder)
        run_home = root / "run-homes" / case.family / case.name  # run history etc. live outside the case's folder
        env = {"CNNSTUDIO_HOME": str(run_home), **case.env}
        plan.append({"name": case.id, "argv": case.argv, "folder": str(folder), "env": env, "timeout": case.timeout})
    (root / "cases.json").write_text(json.dumps(plan), encoding="utf-8")
    results_file = root / "results.jsonl"
    results_file.touch()
    environment = _environment(root)
    while True:
        done = len(results_file.read_text(encoding="utf-8").splitlines())
        if done >= len(plan):
            break
        process = subprocess.run([sys.executable, str(DRIVER), str(root / "cases.json"), str(results_file), str(done)],
                                 capture_output=True, text=True, env=environment, timeout=1800)
        if len(results_file.read_text(encoding="utf-8").splitlines()) == done:  # died inside case ``done``
            with open(results_file, "a", encoding="utf-8") as results:
                results.write(json.dumps({"name": plan[done]["name"], "rc": "crash", "stdout": "",
                                          "stderr": f"driver exit {process.returncode}: {process.stderr[-2000:]}",
                                          "added": [], "removed": [], "changed": []}) + "\n")
    lines = results_file.read_text(encoding="utf-8").splitlines()
    return {result["name"]: result for result in map(json.loads, lines)}


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("reliability")
    cases = families(Inputs(root / "inputs").build())
    return {"cases": {case.id: case for case in cases}, "results": _run_all(cases, root), "root": root}


def _verdict(case: Case, result: dict, folder: Path) -> list[str]:
    """What is wrong with one case's outcome (an empty list: nothing)."""
    problems = []
    rc, err, out = result["rc"], result["stderr"], result["stdout"]
    if rc in ("hang", "crash", "escaped"):
        return [f"{rc}: {err[-1500:]}"]
    if "internal error" in err or "Traceback" in err or "Traceback" in out:
        problems.append("internal error or traceback")
    if (folder / MARKER).exists():
        problems.append("code from the input ran")
    if "\x1b" in err or "\x1b" in out:
        problems.append("a control character reached the terminal")
    left = [name for name in result["added"] if name not in case.may_create and not name.startswith("home")]
    if left or result["removed"] or result["changed"]:
        problems.append(f"files left behind {left}, removed {result['removed']}, changed {result['changed']}")
    if case.expect == "refused":
        lines = err.splitlines()
        if rc != 2:
            problems.append(f"exit {rc}, not 2")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr, not 1")
        elif case.needle and case.needle.lower() not in lines[0].lower():
            problems.append(f"the line does not mention {case.needle!r}")
    elif case.expect == "repaired":
        if rc != 0:
            problems.append(f"exit {rc}, not 0 (the documented repair)")
    elif rc not in (0, 2):
        problems.append(f"exit {rc}, neither 0 nor 2")
    if rc == 0 and "--json" in case.argv:
        try:
            json.loads(out.strip().splitlines()[-1], parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
        except (ValueError, IndexError) as exc:
            problems.append(f"--json output is not valid JSON ({exc})")
    return problems


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_hostile_input(results, case_id: str) -> None:
    case, result = results["cases"][case_id], results["results"][case_id]
    folder = results["root"] / "cases" / case.family / case.name
    problems = _verdict(case, result, folder)
    counts = COUNTS.setdefault(case.family, Counter())
    counts["tried"] += 1
    counts["refused cleanly" if result["rc"] == 2 and not problems else
           "repaired" if result["rc"] == 0 and not problems else "failed"] += 1
    for kind in ("hang", "crash", "escaped"):
        counts[kind] += result["rc"] == kind
    counts["internal errors"] += "internal error" in result["stderr"]
    counts["code executions"] += (folder / MARKER).exists()
    counts["files left or damaged"] += bool(result["removed"] or result["changed"] or [
        name for name in result["added"] if name not in case.may_create and not name.startswith("home")])
    assert not problems, f"{case_id} ({' '.join(case.argv)}): {'; '.join(problems)}\nstderr: {result['stderr'][-800:]}"


def counts_table() -> str:
    """The per-family counts as a Markdown table (printed by conftest at the end of the session)."""
    columns = ["tried", "refused cleanly", "repaired", "failed", "internal errors", "hang", "crash", "escaped",
               "code executions", "files left or damaged"]
    rows = ["| family | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    total: Counter = Counter()
    for family, counts in sorted(COUNTS.items()):
        total.update(counts)
        rows.append(f"| {family} | " + " | ".join(str(counts[c]) for c in columns) + " |")
    rows.append("| **all** | " + " | ".join(str(total[c]) for c in columns) + " |")
    return "\n".join(rows)
