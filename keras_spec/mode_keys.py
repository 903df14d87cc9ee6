"""The three modes a model_fn is called in, with tf.estimator's string values.

The values are the ones tf.estimator and contrib.learn used, so a model_fn that
compares ``mode`` against either spelling (``ModeKeys.PREDICT`` or contrib's
``ModeKeys.INFER``) keeps working unchanged.
"""

from __future__ import annotations


class ModeKeys:
    """Standard names for model modes (``tf.estimator.ModeKeys``)."""

    TRAIN = 'train'
    EVAL = 'eval'
    PREDICT = 'infer'
    # contrib.learn's name for PREDICT; same value, so both spellings compare equal.
    INFER = PREDICT


VALID_MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)


def validate_mode(mode: object, owner: str = 'EstimatorSpec') -> str:
    """Returns ``mode`` if it is one of the valid modes, else raises ValueError.

    ``owner`` names the spec being built so the message points at the caller.
    """
    if isinstance(mode, str) and mode in VALID_MODES:
        return mode
    raise ValueError(
        f'{owner} mode must be one of ModeKeys.TRAIN ({ModeKeys.TRAIN!r}), '
        f'ModeKeys.EVAL ({ModeKeys.EVAL!r}) or ModeKeys.PREDICT '
        f'({ModeKeys.PREDICT!r}); got {type(mode).__name__} {mode!r}.')
