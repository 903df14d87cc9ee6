"""keras-spec engines: a model_fn's spec translated into a Keras 3 model."""

from adapters.run_config import RunConfig
from adapters.spec_model import SpecModel, XlaCompilationError

__all__ = ["RunConfig", "SpecModel", "XlaCompilationError"]
