"""tf.estimator's metric, prediction and signature keys (canned/metric_keys.py and
prediction_keys.py)."""

DEFAULT_SERVING_KEY = 'serving_default'
CLASSIFY_SERVING_KEY = 'classification'
REGRESS_SERVING_KEY = 'regression'
PREDICT_SERVING_KEY = 'predict'


class MetricKeys:
    """Evaluation metric names, as tf.estimator's heads report them."""
    LOSS = 'loss'
    LOSS_MEAN = 'average_loss'
    LOSS_REGULARIZATION = 'regularization_loss'
    ACCURACY = 'accuracy'
    PRECISION = 'precision'
    RECALL = 'recall'
    ACCURACY_BASELINE = 'accuracy_baseline'
    AUC = 'auc'
    AUC_PR = 'auc_precision_recall'
    LABEL_MEAN = 'label/mean'
    PREDICTION_MEAN = 'prediction/mean'
    ACCURACY_AT_THRESHOLD = 'accuracy/positive_threshold_%g'
    PRECISION_AT_THRESHOLD = 'precision/positive_threshold_%g'
    RECALL_AT_THRESHOLD = 'recall/positive_threshold_%g'
    PROBABILITY_MEAN_AT_CLASS = 'probability_mean/class%d'
    AUC_AT_CLASS = 'auc/class%d'
    AUC_PR_AT_CLASS = 'auc_precision_recall/class%d'
    PROBABILITY_MEAN_AT_NAME = 'probability_mean/%s'
    AUC_AT_NAME = 'auc/%s'
    AUC_PR_AT_NAME = 'auc_precision_recall/%s'


class PredictionKeys:
    """Prediction dict keys, as tf.estimator's heads produce them."""
    CLASSES = 'classes'
    CLASS_IDS = 'class_ids'
    ALL_CLASSES = 'all_classes'
    ALL_CLASS_IDS = 'all_class_ids'
    LOGISTIC = 'logistic'
    LOGITS = 'logits'
    PREDICTIONS = 'predictions'
    PROBABILITIES = 'probabilities'
