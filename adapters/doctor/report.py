"""Findings and how they are shown: readable text (default) or JSON.

A finding says where (the user's file:line:col), which rule, how bad (a blocker stops the script
on TF 2.21 / keras-spec; a warning changes results or speed; info is for the record), what
happens, and the fix. `fixed` marks findings `--fix` rewrote in the patched copy.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable

BLOCKER, WARNING, INFO = "blocker", "warning", "info"
_ORDER = {BLOCKER: 0, WARNING: 1, INFO: 2}


@dataclasses.dataclass
class Finding:
    path: str
    line: int
    col: int
    rule: str
    severity: str
    message: str
    fix: str
    fixable: bool = False
    fixed: bool = False

    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.col + 1}" if self.line else self.path


def blocks(findings: Iterable[Finding]) -> bool:
    """Whether anything is a blocker the user still has to act on."""
    return any(f.severity == BLOCKER and not f.fixed for f in findings)


def sort_key(f: Finding) -> tuple:
    return (f.path, f.line, f.col, _ORDER.get(f.severity, 3), f.rule)


def to_text(findings: list[Finding], coverage: list[dict] | None = None,
            dynamic: dict | None = None, diffs: list[str] | None = None) -> str:
    out = []
    for f in sorted(findings, key=sort_key):
        tag = f.severity + (" (fixed by --fix)" if f.fixed else "")
        out.append(f"{f.where()}: {f.rule} [{tag}] {f.message}")
        if f.fix:
            out.append(f"    fix: {f.fix}")
    if coverage:
        out.append("")
        out.append("tf.estimator names used (covered: tf.estimator.X after "
                   "adapters.estimator.install()):")
        for row in coverage:
            advice = f": {row['advice']}" if row.get("advice") else ""
            out.append(f"  {row['name']:<40} {row['status']}{advice}  ({row['where']})")
    if dynamic:
        out.append("")
        out.append(f"model_fn run ({dynamic.get('model_fn', '')}):")
        for stage in dynamic.get("stages", []):
            out.append(f"  {stage['stage']:<8} {stage['status']}"
                       + (f": {stage['message']}" if stage.get("message") else ""))
    for diff in diffs or []:
        out.append("")
        out.append(diff.rstrip("\n"))
    counts = {s: sum(1 for f in findings if f.severity == s and not f.fixed)
              for s in (BLOCKER, WARNING, INFO)}
    fixed = sum(1 for f in findings if f.fixed)
    out.append("")
    out.append(f"{counts[BLOCKER]} blocker(s), {counts[WARNING]} warning(s), {counts[INFO]} info"
               + (f"; {fixed} fixed in the patched copies" if fixed else "") + ".")
    return "\n".join(out) + "\n"


def to_json(findings: list[Finding], coverage: list[dict] | None = None,
            dynamic: dict | None = None, written: list[str] | None = None) -> str:
    return json.dumps({
        "findings": [dataclasses.asdict(f) for f in sorted(findings, key=sort_key)],
        "coverage": coverage or [],
        "dynamic": dynamic,
        "patched_files": written or [],
        "blocked": blocks(findings),
    }, indent=2) + "\n"
