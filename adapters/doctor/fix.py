"""`--fix`: apply the safe, mechanical edits the static pass attached to its findings.

Edits are applied to the source text at the positions `ast` reported (concrete syntax is kept:
comments, formatting and everything not named by a finding stay byte-identical), never by
unparsing the tree. The one install line (`import adapters.estimator;
adapters.estimator.install()`) goes right after the script's `import tensorflow` line, once,
when a fixed finding needs it; other lines a finding needs go after the file's leading imports. The patched copy must still parse, or nothing is written.
"""

from __future__ import annotations

import ast
import difflib
import os
import pathlib
import tempfile

from adapters.doctor.report import INFO
from adapters.doctor.static import INSTALL_LINE, Edit, FileAnalysis, header_position


def _offsets(source: str) -> list[int]:
    """Character offset of the start of each line (1-based line numbers index it)."""
    starts = [0, 0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _char(starts: list[int], lines: list[str], lineno: int, col: int) -> int:
    # ast columns are UTF-8 byte offsets.
    line = lines[lineno - 1] if lineno - 1 < len(lines) else ""
    return starts[lineno] + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))


def patched_source(analysis: FileAnalysis) -> tuple[str, list]:
    """(new source, findings fixed). Overlapping edits: the first (outermost) wins."""
    source = analysis.source
    lines = source.splitlines(keepends=True)
    starts = _offsets(source)
    chosen: list[tuple[int, int, str]] = []
    header: list[str] = []
    fixed = []
    for f in analysis.findings:
        edits: list[Edit] = analysis.edits.get(id(f), [])
        extra = analysis.header.get(id(f), [])
        if not edits and not extra and id(f) not in analysis.install:
            continue
        spans = [(_char(starts, lines, e.lineno, e.col), _char(starts, lines, e.end_lineno,
                                                               e.end_col), e.text) for e in edits]
        if any(s < ce and cs < e for s, e, _ in spans for cs, ce, _ in chosen):
            continue
        chosen += spans
        header += [h for h in extra if h not in header and h not in source]
        fixed.append(f)
    if any(id(f) in analysis.install for f in fixed) and analysis.install_at:
        # The one install line, right after `import tensorflow` (a zero-width edit).
        at = min(analysis.install_at, len(lines) + 1)
        pos = starts[at] if at < len(starts) else len(source)
        lead = "\n" if pos == len(source) and source and not source.endswith("\n") else ""
        chosen.append((pos, pos, lead + INSTALL_LINE + "\n"))
    new = source
    for s, e, text in sorted(chosen, key=lambda c: (c[0], c[1]), reverse=True):
        new = new[:s] + text + new[e:]
    if header:
        after = header_position(ast.parse(new))
        new_lines = new.splitlines(keepends=True)
        if after and not new_lines[after - 1].endswith("\n"):
            new_lines[after - 1] += "\n"
        new_lines[after:after] = [h + "\n" for h in header]
        new = "".join(new_lines)
    return new, fixed


def unified_diff(path: str, old: str, new: str, new_path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        fromfile=path, tofile=new_path))


def fix_file(analysis: FileAnalysis, out_dir: str | None, in_place: bool,
             root: pathlib.Path | None = None) -> tuple[str | None, str]:
    """Write the patched copy; returns (path written or None, diff).

    Never overwrites an existing file unless `in_place`; writes through a temporary file and
    an atomic rename, so an interrupted fix leaves the original (or nothing) behind.
    """
    new, fixed = patched_source(analysis)
    if not fixed or new == analysis.source:
        return None, ""
    try:
        ast.parse(new)
    except SyntaxError as e:  # a bug in an edit must never produce a broken file
        raise RuntimeError(f"keras-spec doctor: the patched {analysis.path} does not parse "
                           f"({e}); nothing was written") from e
    src = pathlib.Path(analysis.path)
    if in_place:
        target = src
    elif out_dir:
        rel = src.resolve().relative_to(root.resolve()) if root else pathlib.Path(src.name)
        target = pathlib.Path(out_dir) / rel
    else:
        target = src.with_name(src.stem + "_keras_spec" + src.suffix)
    if target.exists() and not in_place:
        raise FileExistsError(f"{target} exists; keras-spec doctor never overwrites a file "
                              "(remove it, choose --out, or use --in-place)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new)
    if src.exists() and in_place:
        os.chmod(tmp, src.stat().st_mode & 0o777)
    os.replace(tmp, target)
    for f in fixed:
        f.fixed = True
        if id(f) in analysis.install and f.rule in ("KS100", "KS170"):
            f.severity = INFO  # covered now: the patched copy calls install()
    return str(target), unified_diff(analysis.path, analysis.source, new, str(target))
