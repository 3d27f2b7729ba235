"""Experiments: one recorded run (the runner), the run history, studies, reports and standalone scripts."""
