"""The tf.estimator-shaped facade: Estimator, TPUEstimator, train_and_evaluate, exporters.

Modules: `estimator` (Estimator), `tpu` (TPUEstimator, TPUConfig), `training` (TrainSpec,
EvalSpec, train_and_evaluate), `train_loop` (the facade's training loop and its cadences),
`input_fn` (calling input_fns), `warm_start`, `exporter`, `event_files`. It drives the engine
(adapters.engine.SpecModel); nothing below it imports it.
"""

from keras_spec.run_config import RunConfig

from adapters.estimator.estimator import Estimator
from adapters.estimator.exporter import Exporter, FinalExporter, LatestExporter
from adapters.estimator.training import EvalSpec, TrainSpec, train_and_evaluate
from adapters.estimator.warm_start import WarmStartSettings
