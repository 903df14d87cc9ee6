"""Which tf.estimator names the drop-in namespace `adapters.estimator` provides.

The namespace's own contract decides: its `__all__` (and the `__all__` of its submodules
`export`, `tpu`, `experimental`, `inputs`) lists what it provides, and its `NOT_PROVIDED` dict
maps names it deliberately leaves out (dotted within tf.estimator, e.g. "DNNClassifier") to
advice. A name is "covered" (as `tf.estimator.X` after `adapters.estimator.install()`) iff the
namespace provides it, "not provided" (with the advice) iff it is in NOT_PROVIDED, else "not
covered". The fallback (resolution on the package, the table below) only serves a namespace
without `__all__` or an install where adapters.estimator cannot be imported.

TF_ESTIMATOR_NAMES is tf.estimator 2.15's public API (`dir()` of tf.estimator,
tf.compat.v1.estimator and their `export`, `tpu`, `experimental`, `inputs` submodules, recorded
under TF 2.15.1 + tensorflow-estimator 2.15.0), plus the BoostedTrees estimators that earlier
2.x releases had.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
from typing import Any

COVERED, NOT_PROVIDED, NOT_COVERED = "covered", "not provided", "not covered"

_TOP = """BaselineClassifier BaselineEstimator BaselineRegressor BestExporter BinaryClassHead
CheckpointSaverHook CheckpointSaverListener DNNClassifier DNNEstimator DNNLinearCombinedClassifier
DNNLinearCombinedEstimator DNNLinearCombinedRegressor DNNRegressor Estimator EstimatorSpec EvalSpec
Exporter FeedFnHook FinalExporter FinalOpsHook GlobalStepWaiterHook Head LatestExporter
LinearClassifier LinearEstimator LinearRegressor LoggingTensorHook LogisticRegressionHead ModeKeys
MultiClassHead MultiHead MultiLabelHead NanLossDuringTrainingError NanTensorHook
PoissonRegressionHead ProfilerHook RegressionHead RunConfig SecondOrStepTimer SessionRunArgs
SessionRunContext SessionRunHook SessionRunValues StepCounterHook StopAtStepHook SummarySaverHook
TrainSpec VocabInfo WarmStartSettings add_metrics classifier_parse_example_spec
regressor_parse_example_spec train_and_evaluate BoostedTreesClassifier BoostedTreesRegressor
BoostedTreesEstimator"""
_SUB = {
    "export": """ClassificationOutput EvalOutput ExportOutput PredictOutput RegressionOutput
        ServingInputReceiver TensorServingInputReceiver build_parsing_serving_input_receiver_fn
        build_raw_serving_input_receiver_fn""",
    "experimental": """InMemoryEvaluatorHook KMeans LinearSDCA RNNClassifier RNNEstimator
        build_raw_supervised_input_receiver_fn call_logit_fn dnn_logit_fn_builder
        linear_logit_fn_builder make_early_stopping_hook make_stop_at_checkpoint_step_hook
        stop_if_higher_hook stop_if_lower_hook stop_if_no_decrease_hook stop_if_no_increase_hook""",
    "tpu": "InputPipelineConfig RunConfig TPUConfig TPUEstimator TPUEstimatorSpec experimental",
    "tpu.experimental": "EmbeddingConfigSpec",
    "inputs": "numpy_input_fn pandas_input_fn",
}
TF_ESTIMATOR_NAMES: frozenset[str] = frozenset(
    _TOP.split() + [f"{sub}.{n}" for sub, names in _SUB.items() for n in names.split()]
    + list(_SUB))

_CANNED = ("canned estimators are not part of keras-spec: write the model as a model_fn "
           "(keras layers or tf.compat.v1 code) returning an EstimatorSpec, or train a Keras "
           "model directly")
_HEAD = ("tf.estimator heads are not part of keras-spec: compute the loss, predictions and "
         "eval_metric_ops in the model_fn")
FALLBACK_NOT_PROVIDED: dict[str, str] = {
    **{n: _CANNED for n in TF_ESTIMATOR_NAMES if n.split(".")[-1].startswith(
        ("Baseline", "DNN", "Linear", "BoostedTrees", "RNN", "KMeans"))},
    **{n: _HEAD for n in TF_ESTIMATOR_NAMES if n.endswith("Head")},
    "FeedFnHook": ("a traced Keras step has no feed_dict: put the values in the input_fn's "
                   "tf.data pipeline"),
    "inputs.numpy_input_fn": "use tf.data.Dataset.from_tensor_slices((x, y)).batch(n) as input_fn",
    "inputs.pandas_input_fn": "use tf.data.Dataset.from_tensor_slices((dict(df), y)).batch(n)",
}


@dataclasses.dataclass
class Coverage:
    name: str                 # dotted within tf.estimator, e.g. "tpu.TPUEstimator"
    status: str
    advice: str = ""
    home: tuple[str, str] | None = None   # (module to import, attribute path on it)


def _namespace() -> types.ModuleType:
    return importlib.import_module("adapters.estimator")


def _listed(module: Any, name: str) -> bool:
    listed = getattr(module, "__all__", None)
    return name in listed if listed is not None else not name.startswith("_")


def _resolve_on(module_name: str, dotted: str) -> tuple[str, str] | None:
    """(deepest module reached, attribute path on it) if `dotted` resolves on `module_name`.

    Submodules a package has not imported yet (adapters.estimator.tpu) are imported.
    """
    home: types.ModuleType = importlib.import_module(module_name)
    obj: Any = home
    rest: list[str] = []
    for part in dotted.split("."):
        if part.startswith("_") or (isinstance(obj, types.ModuleType) and not _listed(obj, part)
                                    and not hasattr(obj, part)):
            if not (isinstance(obj, types.ModuleType) and not rest):
                return None
        nxt = getattr(obj, part, None)
        if nxt is None and isinstance(obj, types.ModuleType) and not rest:
            try:
                nxt = importlib.import_module(f"{obj.__name__}.{part}")
            except ImportError:
                return None
        if nxt is None or (isinstance(obj, types.ModuleType) and not _listed(obj, part)
                           and not isinstance(nxt, types.ModuleType)):
            return None
        if isinstance(nxt, types.ModuleType) and not rest:
            home = nxt
        else:
            rest.append(part)
        obj = nxt
    if rest:
        return (home.__name__, ".".join(rest))
    parent, _, last = home.__name__.rpartition(".")
    return (parent, last)


# Where names live today while the namespace has no __all__ yet (the spec vocabulary).
_VOCABULARY = {"EstimatorSpec": "keras_spec", "ModeKeys": "keras_spec",
               "tpu.TPUEstimatorSpec": "keras_spec", "export": "keras_spec",
               "SessionRunHook": "keras_spec", "SessionRunArgs": "keras_spec"}


def lookup(dotted: str, namespace: types.ModuleType | None = None) -> Coverage:
    """Coverage of one tf.estimator name (dotted within tf.estimator)."""
    try:
        ns = namespace if namespace is not None else _namespace()
    except ImportError as e:  # a broken install: still report what the table knows
        if dotted in FALLBACK_NOT_PROVIDED:
            return Coverage(dotted, NOT_PROVIDED, advice=FALLBACK_NOT_PROVIDED[dotted])
        return Coverage(dotted, NOT_COVERED, advice=f"adapters.estimator cannot be imported: {e}")
    not_provided = getattr(ns, "NOT_PROVIDED", None)
    if not_provided is None:
        not_provided = FALLBACK_NOT_PROVIDED
    if hasattr(ns, "__all__"):
        home = _contract_home(ns, dotted)
    else:
        home = _provisional_home(ns, dotted)
    if home is not None:
        return Coverage(dotted, COVERED, home=home)
    if dotted in not_provided:
        return Coverage(dotted, NOT_PROVIDED, advice=not_provided[dotted])
    return Coverage(dotted, NOT_COVERED,
                    advice="keras-spec has no replacement for it yet" if dotted in
                    TF_ESTIMATOR_NAMES else "not a tf.estimator 2.15 name")


def _contract_home(ns: types.ModuleType, dotted: str) -> tuple[str, str] | None:
    obj: Any = ns
    for part in dotted.split("."):
        if part not in getattr(obj, "__all__", ()) if isinstance(obj, types.ModuleType) \
                else not hasattr(obj, part):
            return None
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return (ns.__name__, dotted)


def _provisional_home(ns: types.ModuleType, dotted: str) -> tuple[str, str] | None:
    home = _resolve_on(ns.__name__, dotted)
    if home is not None:
        return home
    module = _VOCABULARY.get(dotted) or _VOCABULARY.get(dotted.split(".")[0])
    if module is None:
        return None
    attr = dotted.rpartition(".")[2] if dotted.startswith("tpu.") else dotted
    found = _resolve_on(module, attr)
    return found
