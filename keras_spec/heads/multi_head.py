"""MultiHead: several named heads on one logits tensor (tf.estimator.MultiHead)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import tensorflow as tf

from keras_spec.estimator_spec import EstimatorSpec
from keras_spec.export_output import PredictOutput
from keras_spec.heads import _metrics, _utils
from keras_spec.heads._keys import DEFAULT_SERVING_KEY, MetricKeys, PREDICT_SERVING_KEY
from keras_spec.heads.base import Head
from keras_spec.mode_keys import ModeKeys


def _no_op_train_fn(loss):
    del loss
    return tf.no_op()


class MultiHead(Head):
    """Heads trained together: logits are split among them (or given as a dict by head name),
    labels are a dict by head name.

    loss = sum(head_weight_i * loss_i) + regularization; evaluation adds `loss/<name>` (each
    head's unweighted loss) and every head's own metrics. Predictions are keyed by
    `(head name, key)` tuples. Signatures: `serving_default` (the first head's default), each
    head's as `<name>` (its default) and `<name>/<key>`, and `predict` merging every head's
    predictions as `<name>/<key>`.
    """

    def __init__(self, heads: Sequence[Head], head_weights: Sequence[float] | None = None):
        if not heads:
            raise ValueError(f'Must specify heads. Given: {heads}')
        if head_weights and len(head_weights) != len(heads):
            raise ValueError('heads and head_weights must have the same size. Given len(heads): '
                             f'{len(heads)}. Given len(head_weights): {len(head_weights)}.')
        for head in heads:
            if not isinstance(head, Head):
                raise ValueError(f'heads must be keras_spec Heads; got {type(head).__name__}.')
            if head.name is None:
                raise ValueError(f'All given heads must have name specified. Given: {head}')
        names = [h.name for h in heads]
        if len(set(names)) != len(names):
            raise ValueError(f'Head names must be unique; got {names}.')
        self._heads = tuple(heads)
        self._head_weights = tuple(head_weights) if head_weights else ()
        self._logits_dimension = sum(h.logits_dimension for h in heads)
        self._loss_regularization_key = self._summary_key(MetricKeys.LOSS_REGULARIZATION)
        self._loss_keys = tuple(f'{MetricKeys.LOSS}/{h.name}' for h in heads)

    @property
    def name(self) -> str:
        return '_'.join(h.name for h in self._heads)

    @property
    def logits_dimension(self) -> int:
        return self._logits_dimension

    @property
    def loss_reduction(self) -> str:
        reductions = [h.loss_reduction for h in self._heads]
        if len(set(reductions)) > 1:
            raise ValueError('The loss_reduction must be the same for different heads. Given: '
                             f'{reductions}')
        return reductions[0]

    def _split_logits(self, logits: Any) -> dict:
        logits = tf.convert_to_tensor(logits)
        dims = [h.logits_dimension for h in self._heads]
        last = logits.shape[-1] if logits.shape.rank else None
        if last is not None and last != sum(dims):
            raise ValueError(f'Could not split logits of shape {logits.shape} among the heads '
                             f'with individual logits dimensions: {dims}. The last dimension of '
                             f'the logits tensor should equal {sum(dims)} but is {last}.')
        out, begin = {}, 0
        with tf.name_scope('split_logits'):
            for head, dim in zip(self._heads, dims):
                out[head.name] = logits[..., begin:begin + dim]
                begin += dim
        return out

    def _check_logits_and_labels(self, logits: Any, labels: Any = None) -> dict:
        names = [h.name for h in self._heads]
        if isinstance(logits, dict):
            missing = sorted(set(names) - set(logits))
            if missing:
                raise ValueError(f'logits has missing values for head(s): {missing}')
            logits_dict = logits
        else:
            logits_dict = self._split_logits(logits)
        if labels is not None:
            if not isinstance(labels, dict):
                raise ValueError(f'labels must be a dict keyed by head name {names}. Given: '
                                 f'{labels}')
            missing = sorted(set(names) - set(labels))
            if missing:
                raise ValueError(f'labels has missing values for head(s): {missing}')
        return logits_dict

    def loss(self, labels: Any, logits: Any, features: Any = None, mode: str | None = None,
             regularization_losses: Any = None) -> tf.Tensor:
        logits_dict = self._check_logits_and_labels(logits, labels)
        losses = [h.loss(logits=logits_dict[h.name], labels=labels[h.name], features=features,
                         mode=mode) for h in self._heads]
        with tf.name_scope('merge_losses'):
            if self._head_weights:
                losses = [loss * weight for loss, weight in zip(losses, self._head_weights)]
            return _utils.add_regularization(tf.math.add_n(losses), regularization_losses)

    def predictions(self, logits: Any, keys: Any = None) -> dict:
        """Every head's predictions keyed by (head name, key); `keys` selects those tuples."""
        logits_dict = self._check_logits_and_labels(logits)
        out = {}
        with tf.name_scope('merge_pred'):
            for head in self._heads:
                for key, value in head.predictions(logits_dict[head.name]).items():
                    out[(head.name, key)] = value
        if keys:
            unknown = [k for k in keys if k not in out]
            if unknown:
                raise ValueError(f'Prediction keys {unknown} are not among {sorted(out)}.')
            out = {k: out[k] for k in keys}
        return out

    def metrics(self, regularization_losses: Any = None) -> dict:
        metrics = {}
        if regularization_losses is not None:
            metrics[self._loss_regularization_key] = _metrics.WeightedMean(
                self._loss_regularization_key)
        for key in self._loss_keys:
            metrics[key] = _metrics.WeightedMean(key)
        return metrics

    def update_metrics(self, eval_metrics: dict, features: Any, logits: Any, labels: Any,
                       regularization_losses: Any = None) -> dict:
        logits_dict = self._check_logits_and_labels(logits, labels)
        if regularization_losses is not None:
            eval_metrics[self._loss_regularization_key].update_state(
                tf.math.add_n(list(regularization_losses)))
        for key, head in zip(self._loss_keys, self._heads):
            head_logits, head_labels = logits_dict[head.name], labels[head.name]
            eval_metrics[key].update_state(
                head.loss(logits=head_logits, labels=head_labels, features=features))
            eval_metrics.update(head.update_metrics(head.metrics(), features, head_logits,
                                                    head_labels) or {})
        return eval_metrics

    def create_estimator_spec(self, features: Any, mode: str, logits: Any, labels: Any = None,
                              optimizer: Any = None, trainable_variables: Any = None,
                              train_op_fn: Callable | None = None, update_ops: Any = None,
                              regularization_losses: Any = None) -> EstimatorSpec:
        """The merged spec. Each head's own spec is built too in PREDICT (its export outputs)
        and TRAIN (its summaries), as tf.estimator did; in EVAL only the merged metrics are."""
        graph = tf.compat.v1.get_default_graph()
        with graph.name_scope(self.name):
            logits_dict = self._check_logits_and_labels(logits, labels)
            head_specs = []
            if mode in (ModeKeys.PREDICT, ModeKeys.TRAIN):
                head_specs = [h.create_estimator_spec(
                    features=features, mode=mode, logits=logits_dict[h.name],
                    labels=labels[h.name] if labels else None, train_op_fn=_no_op_train_fn)
                    for h in self._heads]
            predictions = self.predictions(logits)
            if mode == ModeKeys.PREDICT:
                return EstimatorSpec(mode=ModeKeys.PREDICT, predictions=predictions,
                                     export_outputs=self._merge_export_outputs(head_specs))
            loss = self.loss(labels, logits, features, mode, regularization_losses)
            if mode == ModeKeys.EVAL:
                metrics = self.update_metrics(self.metrics(regularization_losses), features,
                                              logits, labels,
                                              regularization_losses=regularization_losses)
                return EstimatorSpec(mode=ModeKeys.EVAL, predictions=predictions, loss=loss,
                                     eval_metric_ops=metrics)
            if mode != ModeKeys.TRAIN:
                raise ValueError(f'mode={mode!r} unrecognized.')
            train_op = _utils.train_op(
                head_name=self.name, loss=loss, optimizer=optimizer,
                trainable_variables=trainable_variables, train_op_fn=train_op_fn,
                update_ops=update_ops, loss_reduction=self.loss_reduction)
            _utils.summaries(loss, regularization_losses, lambda key: key)
            return EstimatorSpec(mode=ModeKeys.TRAIN, loss=loss, train_op=train_op,
                                 predictions=predictions)

    def _merge_export_outputs(self, head_specs: list) -> dict:
        first = head_specs[0].export_outputs
        if DEFAULT_SERVING_KEY not in first and len(first) != 1:
            raise ValueError(f'{self._heads[0].name} did not specify default export_outputs. '
                             f'Given: {first}. Include key {DEFAULT_SERVING_KEY} in its '
                             'export_outputs.')
        outputs = {DEFAULT_SERVING_KEY: first.get(DEFAULT_SERVING_KEY)
                   or next(iter(first.values()))}
        merged = {}
        for head, spec in zip(self._heads, head_specs):
            for key, output in spec.export_outputs.items():
                outputs[head.name if key == DEFAULT_SERVING_KEY else f'{head.name}/{key}'] = output
                if key == PREDICT_SERVING_KEY and isinstance(output, PredictOutput):
                    for name, tensor in output.outputs.items():
                        merged[f'{head.name}/{name}'] = tensor
        outputs[PREDICT_SERVING_KEY] = PredictOutput(merged)
        return outputs
