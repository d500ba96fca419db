"""Running a net over a loader, and the figures we report (accuracy, precision, recall, confusion)."""
import mxnet as mx
import numpy as np
from mxnet import gluon

from ..data.layout import HOTDOG_LABEL


def predict_proba(net, loader, ctx):
    """Softmax probabilities and labels for every sample of ``loader``, as numpy arrays.

    Batches are split across the contexts; results stay on the devices until the end (one host
    synchronisation per call, not per batch).
    """
    ctx = ctx if isinstance(ctx, (list, tuple)) else [ctx]
    probs, labels = [], []
    for x, y in loader:
        for xs in gluon.utils.split_and_load(x, ctx, even_split=False):
            probs.append(mx.nd.softmax(net(xs)).as_in_context(mx.cpu()))
        labels.append(y)
    if not probs:
        return np.zeros((0, 0), dtype=np.float32), np.zeros((0,), dtype=np.int64)
    return (mx.nd.concat(*probs, dim=0).asnumpy(),
            mx.nd.concat(*labels, dim=0).asnumpy().astype(np.int64))


def classification_report(labels, predicted, positive=HOTDOG_LABEL, num_classes=2):
    """Accuracy; precision and recall of the ``positive`` class (hotdog; for other data the first class);
    the same for every class in ``per_class``; and confusion[true][predicted]. Any number of classes."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)

    def precision_recall(c):
        tp, predicted_c, actual_c = confusion[c, c], confusion[:, c].sum(), confusion[c, :].sum()
        return (float(tp / predicted_c) if predicted_c else 0.0, float(tp / actual_c) if actual_c else 0.0)

    precision, recall = precision_recall(positive)
    return {
        "n": int(len(labels)),
        "accuracy": float((labels == predicted).mean()) if len(labels) else float("nan"),
        "precision": precision,
        "recall": recall,
        "per_class": [dict(zip(("precision", "recall"), precision_recall(c))) for c in range(num_classes)],
        "confusion": confusion.tolist(),
    }
