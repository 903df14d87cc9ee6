"""`tf.estimator.experimental`: the early-stopping hooks (the names real scripts use).

The other experimental names of tf.estimator 2.15 (RNN/KMeans/SDCA estimators, the in-memory
evaluator, logit-fn builders) are not provided; touching one raises NotProvidedError naming the
replacement (see adapters/estimator/not_provided.py).
"""

from adapters.estimator.early_stopping import (make_early_stopping_hook,
                                               stop_if_higher_hook, stop_if_lower_hook,
                                               stop_if_no_decrease_hook,
                                               stop_if_no_increase_hook)
from adapters.estimator.not_provided import module_getattr

__all__ = ["make_early_stopping_hook", "stop_if_higher_hook", "stop_if_lower_hook",
           "stop_if_no_decrease_hook", "stop_if_no_increase_hook"]

__getattr__ = module_getattr("experimental", __name__)
