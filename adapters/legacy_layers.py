"""Public path kept: `adapters.legacy_layers` is `install()` and the legacy layers (adapters/tf1/legacy_layers.py).

The real module replaces this one in sys.modules, so attributes, private helpers and
monkeypatching behave exactly as on adapters.tf1.legacy_layers.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("adapters.tf1.legacy_layers")
