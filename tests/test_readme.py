"""README's quickstart runs as pasted and does what its text says."""

from __future__ import annotations

import ast
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _quickstart_code() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


def test_quickstart_is_short_and_runs_as_pasted(tmp_path):
    code = _quickstart_code()
    assert len(code.strip().splitlines()) <= 30
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = ast.literal_eval(re.search(r"\{'accuracy'.*?\}", done.stdout).group(0))
    assert set(results) == {"accuracy", "loss"} and results["accuracy"] > 0.75
    assert re.search(r"^\[[0-2] [0-2]\]$", done.stdout, flags=re.M)  # two predicted class ids
    exported = tmp_path / done.stdout.strip().splitlines()[-1].strip()
    assert (exported / "saved_model.pb").exists() and exported.parent.name == "export"
