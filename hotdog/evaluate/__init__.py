"""Using a trained model: figures, predictions, evaluation, and ImageNet's net as a zero-shot detector.

  metrics    probabilities over a loader; accuracy, precision, recall, confusion (any number of classes)
  inference  a run folder rebuilt into a net; predict files, evaluate a split
  zeroshot   the untouched 1000-class net as a hotdog detector
"""
from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "predict_proba": "metrics", "classification_report": "metrics",
    "load_trained": "inference", "predict_images": "inference", "evaluate_model": "inference",
})
