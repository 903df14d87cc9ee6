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
import pathlib
import types

from adapters.doctor import coverage as cov
from adapters.doctor.names import Ref, import_bindings, import_refs, references
from adapters.doctor.report import BLOCKER, INFO, WARNING, Finding

ROOTS = ("tensorflow", "tensorflow_estimator")
NAMESPACE_IMPORT = "import adapters.estimator as tf_estimator"
LEGACY_LAYERS_LINES = ("import adapters.legacy_layers",
                       "adapters.legacy_layers.install()  # tf.compat.v1.layers on Keras 3 "
                       '(pip install "keras-spec[legacy-layers]")')

_ESTIMATOR_PREFIXES = ("tensorflow.compat.v1.estimator", "tensorflow.compat.v2.estimator",
                       "tensorflow.estimator", "tensorflow_estimator.compat.v1.estimator",
                       "tensorflow_estimator.estimator")
_CONTRIB_PREFIXES = ("tensorflow.compat.v1.contrib", "tensorflow.contrib")
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

    # tf.estimator / tf.compat.v1.estimator / tensorflow_estimator, and contrib.tpu's estimator
    def rule_estimator(self, ref: Ref, q: str) -> bool:
        dotted = _strip(q, _ESTIMATOR_PREFIXES)
        if dotted is None:
            contrib = _strip(q, _CONTRIB_PREFIXES)
            if contrib and contrib.startswith("tpu.") and contrib[4:] in _CONTRIB_TPU_ESTIMATOR:
                dotted = contrib
            else:
                return False
        if dotted == "":
            if ref.in_import:  # `from tensorflow import estimator as est`
                return self.estimator_module_import(ref)
            self.add(ref, "KS100", BLOCKER, "tensorflow has no `estimator` module in TF 2.21",
                     f"use the drop-in namespace: {NAMESPACE_IMPORT}",
                     edits=[self.ref_edit(ref, "tf_estimator")], header=[NAMESPACE_IMPORT])
            return True
        parts = dotted.split(".")
        cut = next((k for k in range(len(parts), 0, -1)
                    if ".".join(parts[:k]) in cov.TF_ESTIMATOR_NAMES), len(parts))
        dotted, suffix = ".".join(parts[:cut]), "".join(f".{p}" for p in parts[cut:])
        c = cov.lookup(dotted)
        self.coverage.setdefault(dotted, {"name": dotted, "status": c.status, "advice": c.advice,
                                          "where": f"{self.path}:{ref.lineno}"})
        if c.status != cov.COVERED:
            rule = "KS101" if c.status == cov.NOT_PROVIDED else "KS102"
            self.add(ref, rule, BLOCKER,
                     f"tf.estimator.{dotted} is {c.status} by keras-spec"
                     + ("" if q.startswith(("tensorflow.estimator", "tensorflow.compat")) else
                        f" (used as {ref.local})"),
                     c.advice)
            return True
        module, attr = c.home
        alias, import_line = _home_alias(module)
        if ref.in_import:
            return self.estimator_name_import(ref, dotted, module, attr)
        self.add(ref, "KS100", BLOCKER,
                 f"tf.estimator is gone in TF 2.21; keras-spec's namespace provides "
                 f"{dotted} (as {alias}.{attr})",
                 f"{ref.local} -> {alias}.{attr}{suffix}  (with `{import_line}`)",
                 edits=[self.ref_edit(ref, f"{alias}.{attr}{suffix}")], header=[import_line])
        return True

    def estimator_module_import(self, ref: Ref) -> bool:
        stmt = ref.node
        single = isinstance(stmt, (ast.Import, ast.ImportFrom)) and len(stmt.names) == 1
        edits = [Edit(stmt.lineno, stmt.col_offset, stmt.end_lineno, stmt.end_col_offset,
                      f"import adapters.estimator as {ref.local}")] if single else None
        self.add(ref, "KS100", BLOCKER, "`tensorflow.estimator` cannot be imported on TF 2.21",
                 f"import adapters.estimator as {ref.local}", edits=edits)
        return True

    def estimator_name_import(self, ref: Ref, dotted: str, module: str, attr: str) -> bool:
        stmt = ref.node
        edits = None
        if (isinstance(stmt, ast.ImportFrom) and len(stmt.names) == 1 and "." not in attr):
            asname = stmt.names[0].asname
            text = f"from {module} import {attr}" + (f" as {asname}" if asname else
                                                      "" if attr == ref.local else
                                                      f" as {ref.local}")
            edits = [Edit(stmt.lineno, stmt.col_offset, stmt.end_lineno, stmt.end_col_offset,
                          text)]
        self.add(ref, "KS100", BLOCKER,
                 f"tf.estimator is gone in TF 2.21; keras-spec provides {dotted} in {module}",
                 f"from {module} import {attr}", edits=edits)
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
            if ref.in_import:
                return self.contrib_import(ref, target, message, note)
            spelled = self.spell_tf(target)
            header = [] if spelled else ["import tensorflow as tf"]
            spelled = spelled or "tf." + target.partition(".")[2]
            self.add(ref, "KS110", BLOCKER, message,
                     f"{spelled}" + (f" ({note})" if note else ""),
                     edits=[self.ref_edit(ref, spelled)], header=header)
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
        self.add(ref, "KS110", BLOCKER, message, note or "remove the tf.contrib import",
                 edits=edits)
        return True

    def all_uses_rewritable(self, local: str) -> bool:
        uses = [r for r in self.refs if not r.in_import and r.local.split(".")[0] == local]
        for r in uses:
            rest = _strip(r.qualname, _CONTRIB_PREFIXES) or ""
            ok = (rest in _CONTRIB_REWRITES or rest in ("learn.ModelFnOps", "learn.ModeKeys")
                  or (rest.startswith("tpu.") and rest[4:] in _CONTRIB_TPU_ESTIMATOR
                      and cov.lookup(rest).status == cov.COVERED))
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
        self.add(ref, "KS130", BLOCKER,
                 f"{ref.local}() switches TensorFlow to graph (TF1) mode for the whole process; "
                 "Keras 3 and keras-spec need TF 2 behaviour (keras-spec emulates TF1 inside "
                 "the model_fn itself)", "remove the call", edits=edits)
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
        installed = "legacy_layers" in self.source and ".install()" in self.source
        edits = None
        if q.startswith("tensorflow.layers") and not ref.in_import:
            target = "tensorflow.compat.v1.layers" + (f".{rest}" if rest else "")
            spelled = self.spell_tf(target)
            edits = [self.ref_edit(ref, spelled)] if spelled else None
        if installed and not edits:
            self.add(ref, "KS170", INFO, f"{ref.local}: tf.compat.v1.layers come from tf_keras "
                     "(adapters.legacy_layers.install() is called in this file)", "")
            return True
        self.add(ref, "KS170", BLOCKER,
                 f"{ref.local}: with Keras 3, tf.compat.v1.layers raise \"`dense` is not "
                 "available with Keras 3\"",
                 'pip install "keras-spec[legacy-layers]" and call '
                 "adapters.legacy_layers.install() before the model_fn runs",
                 edits=edits, header=[] if installed else list(LEGACY_LAYERS_LINES))
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


def _home_alias(module: str) -> tuple[str, str]:
    """(the name code uses, the import line) for a namespace module."""
    if module == "adapters.estimator":
        return "tf_estimator", NAMESPACE_IMPORT
    if module.startswith("adapters.estimator."):
        alias = "tf_estimator_" + module.split(".", 2)[2].replace(".", "_")
        return alias, f"import {module} as {alias}"
    return module, f"import {module}"


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
    return FileAnalysis(path, source, a.findings, list(a.coverage.values()), a.edits, a.header)


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
