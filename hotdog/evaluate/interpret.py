"""What a trained model gets wrong, for a person to look at (fastai's ClassificationInterpretation, and its
image cleaner's question "which of my labels look wrong?").

``interpret_run`` scores a run's test split (or another) and its training split with the final model:
the confusion matrix, the images with the highest loss, the most-confused pairs of classes, and the
training images the model confidently calls another class (candidates for a wrong label or a stray photo
in one's own folders). It computes; ``experiments.interpretation`` draws and writes.
"""
import numpy as np

from ..data.check import require_usable
from ..data.folders import dataset_root, load_split
from ..data.pipeline import evaluation_set, make_loader
from .inference import load_trained
from .metrics import classification_report, predict_proba


def _score(net, data_dir, split, classes, image_size, exclude, ctx, batch_size):
    """(paths, labels, probabilities) of a split, preprocessed as the test split is."""
    dataset = load_split(data_dir, split, classes, exclude)
    probs, labels = predict_proba(net, make_loader(evaluation_set(dataset, image_size), batch_size), ctx)
    return [path for path, _ in dataset.items], labels, probs


def interpret_run(model_dir, ctx, data_dir=None, split="test", top=16, suspect_threshold=0.9, batch_size=64,
                  skip_bad_images=False):
    """A dict: ``classes``, ``confusion`` (rows: true), ``top_losses`` (the ``top`` worst images of ``split``:
    path, true, predicted, probability of the prediction, loss), ``most_confused`` ([true, predicted, count],
    most first) and ``suspects`` (training images predicted as another class with probability at least
    ``suspect_threshold``, most confident first). The folder is checked first (``check.require_usable``)."""
    net, config = load_trained(model_dir, ctx)
    classes, size = config["classes"], config["image_size"]
    data_dir = data_dir or config["data_dir"]
    exclude = require_usable(dataset_root(data_dir), size, skip_bad_images)
    paths, labels, probs = _score(net, data_dir, split, classes, size, exclude, ctx, batch_size)
    predicted = probs.argmax(axis=1)
    losses = np.maximum(0.0, -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)))  # no -0.0
    confusion = np.array(classification_report(labels, predicted, num_classes=len(classes))["confusion"])
    worst = np.argsort(-losses, kind="stable")[:top]
    pairs = [[classes[t], classes[p], int(confusion[t, p])] for t in range(len(classes)) for p in range(len(classes))
             if t != p and confusion[t, p] > 0]
    train_paths, train_labels, train_probs = _score(net, data_dir, "train", classes, size, exclude, ctx, batch_size)
    train_predicted = train_probs.argmax(axis=1)
    confident = train_probs[np.arange(len(train_labels)), train_predicted]
    suspects = [i for i in np.argsort(-confident, kind="stable")
                if train_predicted[i] != train_labels[i] and confident[i] >= suspect_threshold]
    return {
        "classes": list(classes), "image_size": size, "split": split, "images": int(len(labels)),
        "accuracy": float((predicted == labels).mean()) if len(labels) else float("nan"),
        "confusion": confusion.tolist(),
        "top_losses": [{"path": paths[i], "true": classes[labels[i]], "predicted": classes[predicted[i]],
                        "probability": float(probs[i, predicted[i]]), "loss": float(losses[i])} for i in worst],
        "most_confused": sorted(pairs, key=lambda pair: -pair[2]),
        "suspect_threshold": suspect_threshold,
        "suspects": [{"path": train_paths[i], "label": classes[train_labels[i]], "predicted": classes[train_predicted[i]],
                      "probability": float(confident[i])} for i in suspects],
    }
