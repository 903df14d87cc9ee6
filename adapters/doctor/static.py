"""The static pass: every construct in the user's sources that will not work on TF 2.21 / keras-spec.

The user's code is parsed (`ast`), never imported. Whether a `tf.*` name still exists is asked of
the installed TensorFlow (getattr along the path), so the answer follows the TF keras-spec runs
on. Each finding carries the text edits `--fix` may apply (only safe, mechanical rewrites).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import importlib.util
import pathlib
import types

from adapters.doctor import coverage as cov
from adapters.doctor.names import Ref, import_bindings, import_refs, references
from adapters.doctor.report import BLOCKER, INFO, WARNING, Finding

ROOTS = ("tensorflow", "tensorflow_estimator")
#: The one line a tf.estimator 2.15 script gains (README "Porting a tf.estimator script").
INSTALL_LINE = "import adapters.estimator; adapters.estimator.install()"
_LEGACY_EXTRA = 'pip install "keras-spec[legacy-layers]" (tf_keras)'

# Spellings of tf.estimator that install() makes resolve (attributes of tf / tf.compat.v1|v2).
_TF_ESTIMATOR_PREFIXES = ("tensorflow.compat.v1.estimator", "tensorflow.compat.v2.estimator",
                          "tensorflow.estimator")
# tensorflow-estimator's own package: never installed with TF 2.21 and not aliased by install().
_TFE_PREFIXES = ("tensorflow_estimator.compat.v1.estimator",
                 "tensorflow_estimator.compat.v2.estimator", "tensorflow_estimator.estimator")
_TFE_INTERNAL = "tensorflow_estimator.python.estimator"
_CONTRIB_PREFIXES = ("tensorflow.compat.v1.contrib", "tensorflow.contrib")
# contrib.tpu's estimator names live on in tf.compat.v1.estimator.tpu (covered after install()).
_CONTRIB_TPU_ESTIMATOR = {"TPUEstimator", "TPUEstimatorSpec", "RunConfig", "TPUConfig",
                          "InputPipelineConfig"}
_CONTRIB_TPU_TO_V1 = {"CrossShardOptimizer", "cross_replica_sum", "bfloat16_scope", "rewrite",
                      "shard", "batch_parallel", "replicate", "outside_compilation",
                      "initialize_system", "shutdown_system"}
# contrib name -> (TF 2.21 replacement qualname, note)
_CONTRIB_REWRITES = {
    "data.map_and_batch": ("tensorflow.data.experimental.map_and_batch",
                           "same arguments; `dataset.map(f, num_parallel_calls=n).batch(b)` is "
                           "the TF 2 idiom"),
    "data.parallel_interleave": ("tensorflow.data.experimental.parallel_interleave",
                                 "same arguments; `dataset.interleave(..., "
                                 "num_parallel_calls=n)` is the TF 2 idiom"),
    "data.shuffle_and_repeat": ("tensorflow.data.experimental.shuffle_and_repeat",
                                "same arguments"),
    "framework.get_or_create_global_step": ("tensorflow.compat.v1.train.get_or_create_global_step",
                                            "keras-spec provides the global step"),
    "framework.get_global_step": ("tensorflow.compat.v1.train.get_global_step",
                                  "keras-spec provides the global step"),
    **{f"tpu.{n}": (f"tensorflow.compat.v1.tpu.{n}", "") for n in _CONTRIB_TPU_TO_V1},
    **{f"tpu.{n}": (f"tensorflow.compat.v1.estimator.tpu.{n}",
                    "keras-spec's tf.estimator.tpu, after the install() line")
       for n in _CONTRIB_TPU_ESTIMATOR},
}
_CONTRIB_ADVICE = {
    "layers.layer_norm": (
        "no name-compatible TF 2 layer exists: tf.keras.layers.LayerNormalization(axis=-1, "
        "epsilon=1e-12) computes the same normalization (over the last axis; contrib's default "
        "begin_norm_axis=1 is the same for rank-2 inputs) but names its variables "
        "layer_normalization/gamma|beta, so TF1 checkpoints with LayerNorm/gamma|beta do not "
        "restore by name; to keep them, write it with tf.compat.v1.get_variable('gamma'|'beta') "
        "under tf.compat.v1.variable_scope(scope, 'LayerNorm') and tf.nn.moments"),
    "layers.xavier_initializer": (
        "tf.compat.v1.glorot_uniform_initializer() (uniform=True, the default) or "
        "tf.compat.v1.glorot_normal_initializer() (uniform=False)"),
    "layers.l2_regularizer": (
        "lambda w: scale * tf.nn.l2_loss(w) (contrib halves the sum of squares; "
        "tf.keras.regularizers.l2(scale) does not)"),
    "training.HParams": "a plain dict passed as params",
}
_DISABLERS = {"disable_v2_behavior", "disable_eager_execution", "disable_v2_tensorshape",
              "disable_resource_variables", "disable_control_flow_v2", "disable_tensor_equality"}
_SESSIONS = {"Session", "InteractiveSession", "MonitoredTrainingSession", "MonitoredSession",
             "SingularMonitoredSession"}
_PLACEHOLDERS = {"placeholder", "placeholder_with_default", "sparse_placeholder"}
_HOOK_METHODS = {"after_create_session": 1, "before_run": 1, "after_run": 1, "end": 1}
_SHAPE_ATTRS = {"shape", "dims"}


@dataclasses.dataclass
class Edit:
    """Replace source text in [start, end) (1-based lines, 0-based columns) with `text`."""
    lineno: int
    col: int
    end_lineno: int
    end_col: int
    text: str


@dataclasses.dataclass
class FileAnalysis:
    path: str
    source: str
    findings: list[Finding]
    coverage: list[dict]
    edits: dict[int, list[Edit]]          # id(finding) -> its edits
    header: dict[int, list[str]]          # id(finding) -> lines to add after the imports
    install: set[int] = dataclasses.field(default_factory=set)  # fixed by the install line
    install_at: int = 0                   # the install line goes before this line (1-based)


def header_position(tree: ast.Module) -> int:
    """Line after which to add import lines: after the leading docstring/imports block."""
    last = 0
    for i, node in enumerate(tree.body):
        is_doc = i == 0 and isinstance(node, ast.Expr) and isinstance(
            getattr(node, "value", None), ast.Constant) and isinstance(node.value.value, str)
        if is_doc or isinstance(node, (ast.Import, ast.ImportFrom)):
            last = node.end_lineno
        else:
            break
    return last


def _tf_keras_available() -> bool:
    """Whether install() can give tf.compat.v1.layers (tf_keras, the legacy-layers extra)."""
    return importlib.util.find_spec("tf_keras") is not None


def _install_import_paths() -> tuple[str, ...]:
    """Module paths `import`able after adapters.estimator.install().

    Read from installation.py's private tables (checked on this tree, TF 2.21): the doctor
    advises exactly the import forms install() registers in sys.modules.
    """
    from adapters.estimator import installation  # pylint: disable=import-outside-toplevel
    paths = installation._IMPORT_PATHS  # pylint: disable=protected-access
    subs = installation._SUBMODULES  # pylint: disable=protected-access
    return tuple(paths) + tuple(f"{p}.{s}" for p in paths for s in subs)


def _needs_install(qualname: str) -> bool:
    """Whether an import of `qualname` only works after install()."""
    if _strip(qualname, _TF_ESTIMATOR_PREFIXES) is not None:
        return True
    contrib = _strip(qualname, _CONTRIB_PREFIXES)
    return bool(contrib) and contrib.startswith("tpu.") and contrib[4:] in _CONTRIB_TPU_ESTIMATOR


def _home_of(dotted: str) -> tuple[str, str]:
    """("adapters.estimator.tpu", "TPUEstimator") for "tpu.TPUEstimator"."""
    sub, _, name = dotted.rpartition(".")
    return ("adapters.estimator" + (f".{sub}" if sub else ""), name)


def _known_prefix(dotted: str) -> str:
    """The longest leading part of `dotted` that tf.estimator 2.15 names (`Estimator.train`
    -> `Estimator`); the whole name when none is."""
    parts = dotted.split(".")
    cut = next((k for k in range(len(parts), 0, -1)
                if ".".join(parts[:k]) in cov.TF_ESTIMATOR_NAMES), len(parts))
    return ".".join(parts[:cut])


def _public_name(qualname: str) -> str | None:
    """The tf.estimator name (dotted within tf.estimator) a qualified name refers to."""
    dotted = _strip(qualname, _TF_ESTIMATOR_PREFIXES + _TFE_PREFIXES)
    if dotted is not None:
        return dotted
    internal = _strip(qualname, (_TFE_INTERNAL,))
    if not internal:
        return None if internal is None else ""
    # tensorflow_estimator/python/estimator/<module path>.<Name>: the public name is the one
    # with that last component (tpu.* when the path runs through tpu/).
    parts = internal.split(".")
    for k in range(len(parts), 0, -1):
        last = parts[k - 1]
        found = sorted((n for n in cov.TF_ESTIMATOR_NAMES if n.split(".")[-1] == last),
                       key=lambda n: (not any(p in parts[:k - 1] for p in n.split(".")[:-1]),
                                      n.count(".")))
        if found:
            return found[0] + "".join(f".{x}" for x in parts[k:])
    return None


@functools.lru_cache(maxsize=None)
def _tf_exists(qualname: str) -> bool:
    """Whether `qualname` resolves in the installed TensorFlow (checked on TF 2.21)."""
    parts = qualname.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return False
    for part in parts[1:]:
        if not isinstance(obj, types.ModuleType):
            return True  # attributes of classes/objects are not the API surface we check
        try:
            obj = getattr(obj, part)
        except Exception:  # noqa: BLE001 - lazy loaders raise their own errors
            return False
    return True


def _strip(qualname: str, prefixes: tuple[str, ...]) -> str | None:
    for p in prefixes:
        if qualname == p:
            return ""
        if qualname.startswith(p + "."):
            return qualname[len(p) + 1:]
    return None


class _Analyzer:
    def __init__(self, path: str, source: str, tree: ast.Module):
        self.path, self.source, self.tree = path, source, tree
        self.lines = source.splitlines(keepends=True)
        self.findings: list[Finding] = []
        self.coverage: dict[str, dict] = {}
        self.edits: dict[int, list[Edit]] = {}
        self.header: dict[int, list[str]] = {}
        self.refs, self.aliases = references(tree, ROOTS)
        self.refs += import_refs(tree, ROOTS)
        self.parents: dict[int, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
        self.tf2_alias = next((k for k, v in self.aliases.items() if v == "tensorflow"), None)
        self.tf1_alias = next((k for k, v in self.aliases.items()
                               if v == "tensorflow.compat.v1"), None)
        self.has_install, self.has_layers_install = self.installs()
        self.install: set[int] = set()

    def installs(self) -> tuple[bool, bool]:
        """Whether the file calls adapters.estimator.install() (/ a legacy-layers install())."""
        refs, _ = references(self.tree, ("adapters",))
        called = {r.qualname for r in refs if isinstance(self.parents.get(id(r.node)), ast.Call)
                  and self.parents[id(r.node)].func is r.node}
        estimator = "adapters.estimator.install" in called
        layers = estimator or bool(called & {"adapters.legacy_layers.install",
                                             "adapters.tf1.legacy_layers.install"})
        return estimator, layers

    def install_position(self) -> int:
        """The line the install line goes before: right after the script's `import tensorflow`
        (or before its first import that needs install(), if that comes first)."""
        tf_end = 0
        for node in self.tree.body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.ImportFrom):
                if not node.module or node.level:
                    continue
                mods, full = [node.module], [f"{node.module}.{n.name}" for n in node.names]
            else:
                mods = full = [n.name for n in node.names]
            if any(_needs_install(q) for q in full):
                return tf_end + 1 if tf_end else node.lineno
            if not tf_end and any(m == "tensorflow" or m.startswith("tensorflow.")
                                  for m in mods):
                tf_end = node.end_lineno
        if tf_end:
            return tf_end + 1
        return header_position(self.tree) + 1

    def install_fix(self) -> str:
        at = self.install_position()
        where = (f"after line {at - 1}" if at > 1 else "at the top")
        return f"add `{INSTALL_LINE}` {where}"

    # -- helpers -------------------------------------------------------------------------------
    def add(self, node_or_ref, rule, severity, message, fix, edits=None, header=None) -> Finding:
        line, col = ((node_or_ref.lineno, node_or_ref.col) if isinstance(node_or_ref, Ref)
                     else (node_or_ref.lineno, node_or_ref.col_offset))
        f = Finding(self.path, line, col, rule, severity, message, fix,
                    fixable=bool(edits or header))
        self.findings.append(f)
        if edits:
            self.edits[id(f)] = edits
        if header:
            self.header[id(f)] = list(header)
        return f

    def spell_tf(self, qualname: str) -> str | None:
        """How this file can write a TF qualname with its own aliases (None if it cannot)."""
        rest = _strip(qualname, ("tensorflow",))
        if rest is None:
            return None
        if self.tf2_alias:
            return f"{self.tf2_alias}.{rest}" if rest else self.tf2_alias
        if self.tf1_alias:
            v1_rest = _strip(qualname, ("tensorflow.compat.v1",))
            if v1_rest is not None:
                return f"{self.tf1_alias}.{v1_rest}"
            if _tf_exists(f"tensorflow.compat.v1.{rest}"):
                return f"{self.tf1_alias}.{rest}"
        return None

    def ref_edit(self, ref: Ref, text: str) -> Edit:
        return Edit(ref.lineno, ref.col, ref.end_lineno, ref.end_col, text)

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def enclosing_functions(self, node: ast.AST) -> list[ast.AST]:
        found = []
        while id(node) in self.parents:
            node = self.parents[id(node)]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                found.append(node)
        return found

    def statement_of(self, node: ast.AST) -> ast.stmt | None:
        while id(node) in self.parents and not isinstance(node, ast.stmt):
            node = self.parents[id(node)]
        return node if isinstance(node, ast.stmt) else None

    def replace_statement(self, stmt: ast.stmt, what: str) -> Edit:
        original = self.segment(stmt).replace("\n", " ")
        at_top = stmt in self.tree.body  # a comment is enough; in a block `pass` keeps it valid
        return Edit(stmt.lineno, stmt.col_offset, stmt.end_lineno, stmt.end_col_offset,
                    ("" if at_top else "pass  ") + f"# keras-spec doctor: {what} (was: {original})")

    # -- the pass ------------------------------------------------------------------------------
    def run(self) -> None:
        handled: set[int] = set()
        for ref in sorted(self.refs, key=lambda r: (r.lineno, r.col)):
            q = ref.qualname
            for rule in (self.rule_estimator, self.rule_contrib, self.rule_model_to_estimator,
                         self.rule_disable_v2, self.rule_session, self.rule_placeholder,
                         self.rule_feed_fn_hook, self.rule_legacy_layers, self.rule_tf2_name):
                if rule(ref, q):
                    handled.add(id(ref))
                    break
        self.rule_dimension_value()
        self.rule_hook_session_run()

    # tf.estimator / tf.compat.v1.estimator / tensorflow_estimator names
    def rule_estimator(self, ref: Ref, q: str) -> bool:
        tfe = q.startswith("tensorflow_estimator")
        dotted = _public_name(q)
        if tfe and ref.in_import:
            return self.tfe_import(ref, dotted)
        if dotted is None:
            return False
        if dotted == "":
            return True if tfe else self.covered(ref, "", q)
        dotted = _known_prefix(dotted)
        if self.flag_not_covered(ref, dotted, "" if q.startswith(
                ("tensorflow.estimator", "tensorflow.compat")) else f" (used as {ref.local})"):
            return True
        if tfe:  # a use through a tensorflow_estimator import: that import is the finding
            return True
        if not ref.in_import and _public_name(self.aliases.get(ref.local.split(".")[0], "")) \
                is not None:
            return True  # a use of a name imported from tf.estimator: the import is the finding
        return self.covered(ref, dotted, q)

    def flag_not_covered(self, ref: Ref, dotted: str, suffix: str, origin: str = "") -> bool:
        """A KS101 (not provided) / KS102 (not yet) finding when tf.estimator.<dotted> is not
        covered; True when one was added."""
        c = self.lookup(dotted, ref)
        if c.status == cov.COVERED:
            return False
        rule = "KS101" if c.status == cov.NOT_PROVIDED else "KS102"
        self.add(ref, rule, BLOCKER,
                 f"tf.estimator.{dotted}{origin} is {c.status} by keras-spec{suffix}", c.advice)
        return True

    def lookup(self, dotted: str, ref: Ref) -> cov.Coverage:
        c = cov.lookup(dotted)
        self.coverage.setdefault(dotted, {
            "name": dotted, "status": c.status, "advice": c.advice,
            "where": f"{self.path}:{ref.lineno}"})
        return c

    def covered(self, ref: Ref, dotted: str, q: str) -> bool:
        """KS100: a name install() covers: info with the install line, else fixed by adding it."""
        name = "tf.estimator" + (f".{dotted}" if dotted else "")
        if ref.in_import:
            module = q.rpartition(".")[0] if isinstance(ref.node, ast.ImportFrom) else q
            if module not in _install_import_paths() and not (
                    isinstance(ref.node, ast.ImportFrom)
                    and module in ("tensorflow", "tensorflow.compat.v1", "tensorflow.compat.v2")):
                home, attr = _home_of(dotted)
                self.add(ref, "KS103", BLOCKER,
                         f"`{self.segment(ref.node)}`: install() does not make this path "
                         "importable", f"from {home} import {attr}")
                return True
        if self.has_install:
            self.add(ref, "KS100", INFO, f"{ref.local}: {name} is covered by keras-spec's "
                     "namespace (this file calls adapters.estimator.install())", "")
            return True
        f = self.add(ref, "KS100", BLOCKER,
                     f"{ref.local}: TF 2.21 has no tf.estimator; keras-spec's namespace "
                     f"provides {name} after adapters.estimator.install()", self.install_fix())
        f.fixable = True
        self.install.add(id(f))
        return True

    def tfe_import(self, ref: Ref, dotted: str) -> bool:
        """`import tensorflow_estimator as tfe`, `from tensorflow_estimator... import X`."""
        stmt = ref.node
        single = isinstance(stmt, (ast.Import, ast.ImportFrom)) and len(stmt.names) == 1
        message = (f"`{self.segment(stmt)}`: tensorflow-estimator does not install with "
                   "TF 2.21, and install() does not alias `tensorflow_estimator`")
        if dotted == "":  # the estimator module itself
            text = f"import adapters.estimator as {ref.local}"
            single = single and (isinstance(stmt, ast.ImportFrom) or bool(stmt.names[0].asname))
        elif dotted is None:  # the package: `import tensorflow_estimator as tfe`
            text = (f"import adapters.estimator as tf_estimator, and write {ref.local}.estimator.X"
                    " (or its compat.v1.estimator.X) as tf_estimator.X")
            single = False
        else:
            dotted = _known_prefix(dotted)
            if self.flag_not_covered(ref, dotted, "", " (imported from tensorflow_estimator)"):
                return True
            home, attr = _home_of(dotted)
            if isinstance(stmt, ast.ImportFrom):
                text = f"from {home} import {attr}" + (
                    f" as {ref.local}" if ref.local != attr else "")
            else:
                text, single = f"from {home} import {attr}", False
        self.add(ref, "KS104", BLOCKER, message, text,
                 edits=[Edit(stmt.lineno, stmt.col_offset, stmt.end_lineno,
                             stmt.end_col_offset, text)] if single else None)
        return True

    def rule_contrib(self, ref: Ref, q: str) -> bool:
        rest = _strip(q, _CONTRIB_PREFIXES)
        if rest is None:
            return False
        if rest in _CONTRIB_REWRITES:
            target, note = _CONTRIB_REWRITES[rest]
            where = "CrossShardOptimizer" in rest
            message = (f"tf.contrib was removed in TF 2.0: {ref.local} fails"
                       + ("; keras-spec runs tf.compat.v1.tpu.CrossShardOptimizer as the "
                          "optimizer it wraps (the strategy averages gradients), so it can "
                          "stay or be dropped" if where else ""))
            if rest.startswith("tpu.") and rest[4:] in _CONTRIB_TPU_ESTIMATOR:
                self.lookup(rest, ref)
            if ref.in_import:
                return self.contrib_import(ref, target, message, note)
            spelled = self.spell_tf(target)
            header = [] if spelled else ["import tensorflow as tf"]
            spelled = spelled or "tf." + target.partition(".")[2]
            f = self.add(ref, "KS110", BLOCKER, message,
                         f"{spelled}" + (f" ({note})" if note else ""),
                         edits=[self.ref_edit(ref, spelled)], header=header)
            self.needs_install_line(f, target)
            return True
        if rest in ("learn.ModelFnOps", "learn.ModeKeys"):
            name = rest.split(".")[1]
            if ref.in_import:
                return self.contrib_import(ref, None, "tf.contrib.learn was removed in TF 2.0",
                                           f"keras_spec.{name}")
            self.add(ref, "KS110", BLOCKER, f"tf.contrib was removed in TF 2.0: {ref.local} fails",
                     f"keras_spec.{name} (keras-spec runs ModelFnOps as contrib did)",
                     edits=[self.ref_edit(ref, f"keras_spec.{name}")], header=["import keras_spec"])
            return True
        if ref.in_import:
            return self.contrib_import(ref, None, "tf.contrib was removed in TF 2.0: this import "
                                       "fails", _CONTRIB_ADVICE.get(rest, ""))
        advice = _CONTRIB_ADVICE.get(rest, "tf.contrib has no TF 2 home for this: see "
                                     "https://github.com/tensorflow/community/blob/master/rfcs/"
                                     "20180907-contrib-sunset.md for where contrib projects went")
        self.add(ref, "KS111", BLOCKER, f"tf.contrib was removed in TF 2.0: {ref.local} fails",
                 advice)
        return True

    def contrib_import(self, ref: Ref, target: str | None, message: str, note: str) -> bool:
        """`from tensorflow.contrib.data import map_and_batch` / `... import tpu as ct`."""
        stmt = ref.node
        single = isinstance(stmt, (ast.Import, ast.ImportFrom)) and len(stmt.names) == 1
        edits = None
        if single and target is not None:
            mod, _, name = target.rpartition(".")
            asname = stmt.names[0].asname
            local = ref.local
            edits = [Edit(stmt.lineno, stmt.col_offset, stmt.end_lineno, stmt.end_col_offset,
                          f"from {mod} import {name}" + (f" as {local}" if local != name else ""))]
            del asname
        elif single and self.all_uses_rewritable(ref.local):
            # A contrib module alias whose every use is rewritten: the import can go.
            edits = [self.replace_statement(stmt, "tf.contrib import no longer needed")]
        f = self.add(ref, "KS110", BLOCKER, message, note or "remove the tf.contrib import",
                     edits=edits)
        if target is not None:
            self.needs_install_line(f, target)
        return True

    def needs_install_line(self, f: Finding, target: str) -> None:
        """A rewrite to a tf.estimator path also needs the install line (if the file lacks it)."""
        if _needs_install(target) and not self.has_install:
            self.install.add(id(f))
            f.fix += f"; and {self.install_fix()}"

    def all_uses_rewritable(self, local: str) -> bool:
        uses = [r for r in self.refs if not r.in_import and r.local.split(".")[0] == local]
        for r in uses:
            rest = _strip(r.qualname, _CONTRIB_PREFIXES) or ""
            ok = rest in _CONTRIB_REWRITES or rest in ("learn.ModelFnOps", "learn.ModeKeys")
            if not ok:
                return False
        return bool(uses)

    def rule_model_to_estimator(self, ref: Ref, q: str) -> bool:
        if not q.endswith("keras.estimator.model_to_estimator") and not q.endswith(
                "keras.estimator"):
            return False
        self.add(ref, "KS180", BLOCKER,
                 "tf.keras.estimator.model_to_estimator does not exist with Keras 3",
                 "train the Keras model itself (model.fit/evaluate/predict), or call it in a "
                 "model_fn that returns an EstimatorSpec and run that through keras-spec")
        return True

    def rule_disable_v2(self, ref: Ref, q: str) -> bool:
        name = q.rpartition(".")[2]
        if name not in _DISABLERS or not q.startswith("tensorflow"):
            return False
        call = self.parents.get(id(ref.node))
        stmt = self.statement_of(ref.node)
        edits = None
        if (isinstance(call, ast.Call) and isinstance(stmt, ast.Expr) and stmt.value is call):
            edits = [self.replace_statement(stmt, f"{name}() removed")]
        self.add(ref, "KS130", WARNING,
                 f"{ref.local}() switches TensorFlow to graph (TF1) mode for the whole process; "
                 "the Estimator facade (tf.estimator after install()) still runs, as it runs its "
                 "own calls eagerly, but SpecModel and other Keras 3 code refuse graph mode "
                 "(keras-spec emulates TF1 inside the model_fn itself)", "remove the call",
                 edits=edits)
        return True

    def rule_session(self, ref: Ref, q: str) -> bool:
        name = q.rpartition(".")[2]
        if name not in _SESSIONS or not (q.startswith("tensorflow.") and
                                         q.count(".") <= 3):
            return False
        self.add(ref, "KS140", BLOCKER,
                 f"{ref.local}: keras-spec runs the model_fn inside Keras steps, so there is no "
                 "Session or graph to run (a TF1 Session cannot fetch what the model_fn built)",
                 "predict with SpecModel.predict / Estimator.predict, evaluate with evaluate(), "
                 "or serve an export with tf.saved_model.load; in init_fn/hooks use the "
                 "session keras-spec passes")
        return True

    def rule_placeholder(self, ref: Ref, q: str) -> bool:
        name = q.rpartition(".")[2]
        if name not in _PLACEHOLDERS or not q.startswith("tensorflow"):
            return False
        if any(self.is_serving_receiver(fn) for fn in self.enclosing_functions(ref.node)):
            return True  # a serving input receiver builds placeholders: export handles them
        self.add(ref, "KS141", BLOCKER,
                 f"{ref.local} outside a serving input receiver: placeholders do not work with "
                 "TF 2 behaviour ('tf.placeholder() is not compatible with eager execution')",
                 "feed data through the input_fn (a tf.data.Dataset); keep placeholders only "
                 "in serving_input_receiver_fn")
        return True

    def is_serving_receiver(self, fn: ast.AST) -> bool:
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                "serving" in fn.name or "receiver" in fn.name):
            return True
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name.endswith("ServingInputReceiver"):
                    return True
        return False

    def rule_feed_fn_hook(self, ref: Ref, q: str) -> bool:
        if not q.endswith(".FeedFnHook"):
            return False
        self.add(ref, "KS150", BLOCKER,
                 "FeedFnHook feeds placeholders; a traced Keras step has no feed_dict",
                 "produce those values in the input_fn's tf.data pipeline")
        return True

    def rule_legacy_layers(self, ref: Ref, q: str) -> bool:
        rest = _strip(q, ("tensorflow.compat.v1.layers", "tensorflow.layers"))
        if rest is None:
            return False
        edits = None
        if q.startswith("tensorflow.layers") and not ref.in_import:
            target = "tensorflow.compat.v1.layers" + (f".{rest}" if rest else "")
            spelled = self.spell_tf(target)
            edits = [self.ref_edit(ref, spelled)] if spelled else None
        tf_keras = _tf_keras_available()
        if self.has_layers_install and tf_keras and not edits:
            self.add(ref, "KS170", INFO, f"{ref.local}: tf.compat.v1.layers come from tf_keras "
                     "(this file calls install(), and tf_keras is installed)", "")
            return True
        problem = (f"{ref.local}: with Keras 3, tf.compat.v1.layers raise \"`dense` is not "
                   "available with Keras 3\"")
        if not tf_keras:
            fix = (f"{_LEGACY_EXTRA}; then the install() line gives tf.compat.v1.layers" +
                   ("" if self.has_layers_install else f" ({self.install_fix()})"))
            self.add(ref, "KS170", BLOCKER, problem + "; tf_keras is not installed here", fix)
            return True
        fix = ("covered by the install() line, which installs tf_keras's TF1 layers "
               "(tf_keras is installed here)")
        if edits:
            fix = f"{spelled} ({fix})"
        if not self.has_layers_install:
            fix += f": {self.install_fix()}"
        f = self.add(ref, "KS170", BLOCKER, problem, fix, edits=edits)
        if not self.has_layers_install:
            f.fixable = True
            self.install.add(id(f))
        return True

    def rule_tf2_name(self, ref: Ref, q: str) -> bool:
        if ref.in_import or not q.startswith("tensorflow.") or q.startswith("tensorflow_"):
            return False
        if _tf_exists(q):
            return False
        v1 = _strip(q, ("tensorflow.compat.v1",))
        if v1 is None and _tf_exists("tensorflow.compat.v1." + q.partition(".")[2]):
            target = "tensorflow.compat.v1." + q.partition(".")[2]
            spelled = self.spell_tf(target)
            self.add(ref, "KS160", BLOCKER,
                     f"{ref.local} was removed from the TF 2 API (TF 2.21)",
                     f"{spelled or target.replace('tensorflow', 'tf', 1)} (the TF1 name, which "
                     "keras-spec emulates inside the model_fn)",
                     edits=[self.ref_edit(ref, spelled)] if spelled else None)
            return True
        self.add(ref, "KS161", BLOCKER, f"{ref.local} does not exist in TensorFlow 2.21",
                 "find its TF 2 replacement (tf_upgrade_v2's report names most)")
        return True

    # `x.shape[1].value`, `t.get_shape()[0].value`, `dims[i].value`
    def rule_dimension_value(self) -> None:
        shape_names = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and self.is_shape_expr(node.value, set()):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        shape_names.add(t.id)
        for node in ast.walk(self.tree):
            if (isinstance(node, ast.Attribute) and node.attr == "value"
                    and isinstance(node.value, ast.Subscript)
                    and self.is_shape_expr(node.value.value, shape_names)):
                tf_alias = self.tf2_alias or self.tf1_alias
                inner = self.segment(node.value)
                new = f"{tf_alias or 'tf'}.compat.dimension_value({inner})"
                self.add(node, "KS120", BLOCKER,
                         f"`{self.segment(node)}`: TF 2 shapes index to int or None, which have "
                         "no `.value` (AttributeError: 'int' object has no attribute 'value')",
                         new, edits=[Edit(node.lineno, node.col_offset, node.end_lineno,
                                          node.end_col_offset, new)],
                         header=[] if tf_alias else ["import tensorflow as tf"])

    def is_shape_expr(self, node: ast.AST, names: set[str]) -> bool:
        if isinstance(node, ast.Attribute) and node.attr in _SHAPE_ATTRS:
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return node.func.attr == "get_shape"
        return isinstance(node, ast.Name) and node.id in names

    # SessionRunHooks whose methods session.run new ops
    def rule_hook_session_run(self) -> None:
        for cls in ast.walk(self.tree):
            if not isinstance(cls, ast.ClassDef):
                continue
            for fn in cls.body:
                if not (isinstance(fn, ast.FunctionDef) and fn.name in _HOOK_METHODS):
                    continue
                params = [a.arg for a in fn.args.args[1:]]
                for node in ast.walk(fn):
                    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and node.func.attr == "run"):
                        continue
                    target = node.func.value
                    is_session = (isinstance(target, ast.Name) and target.id in params
                                  and "sess" in target.id) or (
                        isinstance(target, ast.Attribute) and target.attr == "session")
                    if not is_session:
                        continue
                    builds = any(isinstance(n, ast.Call) for a in node.args for n in ast.walk(a))
                    if builds:
                        self.add(node, "KS151", BLOCKER,
                                 f"{cls.name}.{fn.name} runs a new op with session.run: in "
                                 "keras-spec a hook's session can only read variables "
                                 "(ops built after the step is traced cannot run)",
                                 "build the op in begin() and fetch it through "
                                 "SessionRunArgs from before_run, or do the update in the "
                                 "model_fn / init_fn")
                    else:
                        self.add(node, "KS152", WARNING,
                                 f"{cls.name}.{fn.name} calls session.run: in keras-spec this "
                                 "works for reading variables only; an op (assign, "
                                 "a tensor of the step) raises",
                                 "fetch tensors through SessionRunArgs in before_run and read "
                                 "run_values.results in after_run")


def analyze_source(path: str, source: str) -> FileAnalysis:
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        f = Finding(path, e.lineno or 0, (e.offset or 1) - 1, "KS001", BLOCKER,
                    f"cannot be parsed as Python 3: {e.msg}",
                    "port it to Python 3 first (e.g. print statements, `except X, e`)")
        return FileAnalysis(path, source, [f], [], {}, {})
    a = _Analyzer(path, source, tree)
    a.run()
    return FileAnalysis(path, source, a.findings, list(a.coverage.values()), a.edits, a.header,
                        a.install, a.install_position() if a.install else 0)


def python_files(paths: list[str]) -> list[pathlib.Path]:
    """The .py files named, or found under named directories (sorted, hidden dirs skipped)."""
    found = []
    for p in map(pathlib.Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.py")
                            if not any(part.startswith(".") or part == "__pycache__"
                                       for part in q.relative_to(p).parts))
        else:
            found.append(p)
    return found


def analyze_paths(paths: list[str]) -> list[FileAnalysis]:
    return [analyze_source(str(p), p.read_text(encoding="utf-8")) for p in python_files(paths)]
