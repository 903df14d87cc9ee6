"""Public path kept: `adapters.strategies` is strategy helpers (adapters/distribute/strategies.py).

The real module replaces this one in sys.modules, so attributes, private helpers and
monkeypatching behave exactly as on adapters.distribute.strategies.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("adapters.distribute.strategies")
