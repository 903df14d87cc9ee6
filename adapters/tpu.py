"""Public path kept: `adapters.tpu` is the facade's TPU module (adapters/estimator/tpu.py).

The real module replaces this one in sys.modules, so attributes, private helpers and
monkeypatching behave exactly as on adapters.estimator.tpu.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("adapters.estimator.tpu")
