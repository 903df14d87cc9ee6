"""Command line: `keras-spec doctor PATH... [--fix] [--json] [--model-fn m:f ...]`.

Imports nothing heavy at module level: `--help` and usage errors answer without loading
TensorFlow. Exit codes: 0 nothing blocks, 1 something blocks (or the dynamic run failed),
2 usage error.
"""

from __future__ import annotations

import argparse
import sys

_DESCRIPTION = (
    "Tell what in a tf.estimator-era script must change to run on TensorFlow 2.21 with "
    "keras-spec, and fix what can be fixed mechanically. The static pass reads the sources "
    "(it never imports them); --model-fn also runs the model_fn in a subprocess through "
    "SpecModel in TRAIN, EVAL and PREDICT (one step each) and through an export.")
_EPILOG = (
    "examples:\n"
    "  keras-spec doctor trainer/                      report on every .py file under trainer/\n"
    "  keras-spec doctor model.py --fix                write model_keras_spec.py (adds the install() line), print a diff\n"
    "  keras-spec doctor model.py --model-fn model:model_fn --input-fn model:train_input_fn\n"
    "  keras-spec doctor model.py --model-fn model:model_fn \\\n"
    "      --feature-spec '{\"features\": {\"x\": {\"shape\": [4]}}, "
    "\"labels\": {\"shape\": [], \"dtype\": \"int64\", \"max\": 3}}'\n"
    "exit status: 0 nothing blocks, 1 something blocks, 2 usage error")


def build_parser(prog: str = "keras-spec doctor") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION, epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH", help=".py files or directories to check")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--fix", action="store_true",
                   help="write patched copies (NAME_keras_spec.py beside each file, or under "
                        "--out) with the safe rewrites, and print a unified diff")
    p.add_argument("--out", metavar="DIR", help="with --fix: write the patched copies here")
    p.add_argument("--in-place", action="store_true", help="with --fix: edit the files themselves")
    p.add_argument("--model-fn", metavar="MODULE:FN",
                   help="also run this model_fn (module importable from --path-root)")
    p.add_argument("--input-fn", metavar="MODULE:FN", help="input_fn giving (features, labels)")
    p.add_argument("--feature-spec", metavar="JSON",
                   help='synthesize a batch: {"features": {NAME: {"shape": [...], "dtype": '
                        '"float32"}}, "labels": {"shape": [], "dtype": "int64", "max": N}}')
    p.add_argument("--params", metavar="JSON", default="{}", help="params for model_fn (JSON)")
    p.add_argument("--batch-size", type=int, default=8, help="synthesized batch size (8)")
    p.add_argument("--path-root", metavar="DIR", default=".",
                   help="directory put on sys.path for --model-fn/--input-fn (default: .)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="S",
                   help="time limit of the dynamic run in seconds (300)")
    p.add_argument("--no-xla", action="store_true",
                   help="skip the dynamic check that TRAIN compiles with jit_compile=True")
    return p


def _usage_checks(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    import json
    import os
    if not args.paths and not args.model_fn:
        p.error("give PATHs to check, or --model-fn to run")
    for path in args.paths:
        if not os.path.exists(path):
            p.error(f"{path}: no such file or directory")
    if (args.out or args.in_place) and not args.fix:
        p.error("--out and --in-place go with --fix")
    if args.out and args.in_place:
        p.error("--out and --in-place exclude each other")
    for name, spec in (("--model-fn", args.model_fn), ("--input-fn", args.input_fn)):
        if spec and (":" not in spec or not all(spec.split(":", 1))):
            p.error(f"{name} must be MODULE:FUNCTION, given {spec!r}")
    if args.model_fn and not (args.input_fn or args.feature_spec):
        p.error("--model-fn needs --input-fn or --feature-spec to get a batch")
    if (args.input_fn or args.feature_spec) and not args.model_fn:
        p.error("--input-fn/--feature-spec go with --model-fn")
    for name, text in (("--feature-spec", args.feature_spec), ("--params", args.params)):
        if text:
            try:
                value = json.loads(text)
            except ValueError as e:
                p.error(f"{name} is not valid JSON: {e}")
            if not isinstance(value, dict):
                p.error(f"{name} must be a JSON object")
    if args.feature_spec and "features" not in json.loads(args.feature_spec):
        p.error('--feature-spec needs a "features" object: {"features": {NAME: {"shape": '
                '[...], "dtype": ...}}}')


def run_doctor(args: argparse.Namespace) -> int:
    import pathlib

    from adapters.doctor import report, static
    analyses = static.analyze_paths(args.paths)
    findings = [f for a in analyses for f in a.findings]
    coverage = [row for a in analyses for row in a.coverage]
    diffs, written = [], []
    if args.fix:
        from adapters.doctor import fix
        roots = [pathlib.Path(p) for p in args.paths if pathlib.Path(p).is_dir()]
        for a in analyses:
            root = next((r for r in roots if pathlib.Path(a.path).resolve().is_relative_to(
                r.resolve())), None)
            try:
                path, diff = fix.fix_file(a, args.out, args.in_place, root)
            except (FileExistsError, RuntimeError) as e:
                print(f"keras-spec doctor: {e}", file=sys.stderr)
                return 2
            if path:
                written.append(path)
                diffs.append(diff)
    dynamic = None
    if args.model_fn:
        from adapters.doctor import dynamic as dyn
        dynamic, dyn_findings = dyn.run(args)
        findings += dyn_findings
    if args.json:
        sys.stdout.write(report.to_json(findings, coverage, dynamic, written))
    else:
        sys.stdout.write(report.to_text(findings, coverage, dynamic, diffs))
        for path in written:
            print(f"wrote {path}")
    return 1 if report.blocks(findings) else 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Entry point of the `keras-spec` console script (and `python -m adapters.doctor`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if prog is None:  # the console script: `keras-spec doctor ...`
        top = argparse.ArgumentParser(prog="keras-spec", description="keras-spec tools.")
        sub = top.add_subparsers(dest="command", metavar="COMMAND")
        sub.add_parser("doctor", help="what a tf.estimator script needs changing (and --fix)",
                       add_help=False)
        if not argv or argv[0] in ("-h", "--help"):
            top.print_help(sys.stdout if argv else sys.stderr)
            return 0 if argv else 2
        if argv[0] != "doctor":
            top.print_usage(sys.stderr)
            print(f"keras-spec: unknown command {argv[0]!r} (the only command is `doctor`)",
                  file=sys.stderr)
            return 2
        argv, prog = argv[1:], "keras-spec doctor"
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
        _usage_checks(parser, args)
    except SystemExit as e:
        return int(e.code or 0)
    from adapters import startup  # pylint: disable=import-outside-toplevel
    startup.import_tensorflow()  # no CUDA "error" line on CPU-only machines
    return run_doctor(args)
