"""One step, one pass: the data-parallel training step, a training pass, an evaluation pass.

One step: ``split_and_load`` the batch across the contexts, forward and backward on each, then
``trainer.step(batch_size)``: the kvstore sums the gradients of all contexts and the trainer divides by the
global batch size, so the update uses the mean gradient over the whole batch whatever the split.
Figures stay on the devices (``Accumulator``) and are read back once per pass, so the host never waits for
the devices inside a pass.
"""
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon


def split_batch(x, y, contexts):
    """Slices of the batch per context, plus zero sample weights for contexts left without data.

    A final batch smaller than the number of contexts still gives every context a (zero-weighted) sample:
    a context with no backward pass would keep the previous batch's gradient, which the kvstore would
    add in (or, told to ignore it, the trainer would leave that context's weights behind).
    """
    n = x.shape[0]
    used = contexts[:min(len(contexts), n)]
    xs = gluon.utils.split_and_load(x, used, even_split=False)
    ys = gluon.utils.split_and_load(y, used, even_split=False)
    weights = [None] * len(used)
    for ctx in contexts[len(used):]:
        xs.append(x[:1].as_in_context(ctx))
        ys.append(y[:1].as_in_context(ctx))
        weights.append(mx.nd.zeros((1, 1), ctx=ctx))
    return xs, ys, weights


def train_step(net, trainer, loss_fn, x, y, contexts, step_scale=1):
    """One optimisation step on a batch split across ``contexts``.

    ``step_scale``: in a distributed run whose gradients are summed over the machines, how many machines
    each contribute a batch of this size, so that the update divides by the global batch. Returns
    per-context NDArrays (loss sum, number correct), left on the devices.
    """
    xs, ys, weights = split_batch(x, y, contexts)
    with autograd.record():
        outputs = [net(xi) for xi in xs]
        losses = [loss_fn(o, yi, w) if w is not None else loss_fn(o, yi) for o, yi, w in zip(outputs, ys, weights)]
    autograd.backward(losses)
    trainer.step(x.shape[0] * step_scale)
    n_real = min(len(contexts), x.shape[0])
    return [(losses[j].sum(), (outputs[j].argmax(axis=1) == ys[j].astype("float32")).sum()) for j in range(n_real)]


class Accumulator:
    """Loss and accuracy sums kept on each device; read back (one host synchronisation) only by ``result``."""

    def __init__(self, contexts):
        self.loss = [mx.nd.zeros((1,), ctx=c) for c in contexts]
        self.correct = [mx.nd.zeros((1,), ctx=c) for c in contexts]
        self.count = 0

    def add(self, per_context, n):
        for j, (loss, correct) in enumerate(per_context):
            self.loss[j] += loss
            self.correct[j] += correct
        self.count += n

    def result(self):
        """(mean loss, accuracy); NaN for an empty pass."""
        if not self.count:
            return float("nan"), float("nan")
        loss = sum(a.asscalar() for a in self.loss)
        correct = sum(a.asscalar() for a in self.correct)
        return float(loss / self.count), float(correct / self.count)


def evaluate_loss_acc(net, loader, contexts, loss_fn):
    """Mean loss and accuracy over ``loader`` (inference mode)."""
    acc = Accumulator(contexts)
    for x, y in loader:
        xs, ys, _ = split_batch(x, y, contexts)
        n_real = min(len(contexts), x.shape[0])
        outputs = [net(xi) for xi in xs[:n_real]]
        acc.add([(loss_fn(o, yi).sum(), (o.argmax(axis=1) == yi.astype("float32")).sum())
                 for o, yi in zip(outputs, ys[:n_real])], x.shape[0])
    return acc.result()


def train_pass(net, trainer, loader, contexts, loss_fn, on_batch=None, step_scale=1):
    """One pass over ``loader``; returns (loss, accuracy, images).

    ``on_batch(batch_index, n_images, per_context)`` is called after every step with the step's figures
    still on the devices (the divergence check and the progress bar hook in here; neither may wait).
    """
    acc = Accumulator(contexts)
    for i, (x, y) in enumerate(loader):
        per_context = train_step(net, trainer, loss_fn, x, y, contexts, step_scale)
        acc.add(per_context, x.shape[0])
        if on_batch is not None:
            on_batch(i, x.shape[0], per_context)
    loss, accuracy = acc.result()
    return loss, accuracy, acc.count


def features_dataset(net, loader, contexts):
    """The pooled backbone features of every image of ``loader`` (inference mode), as an ArrayDataset."""
    features, labels = [], []
    for x, y in loader:
        xs, _, _ = split_batch(x, y, contexts)
        features += [net.features(xi).as_in_context(mx.cpu()) for xi in xs[:min(len(contexts), x.shape[0])]]
        labels.append(y)
    # As numpy arrays: the loader then gathers a batch with one numpy indexing per item instead of one
    # MXNet slice operation per item, which dominated these millisecond epochs.
    return gluon.data.ArrayDataset(mx.nd.concat(*features, dim=0).asnumpy(), mx.nd.concat(*labels, dim=0).asnumpy())


def make_loss(class_weight, train_counts, contexts):
    """Softmax cross-entropy, or with ``class_weight="balanced"`` each example weighted by
    n / (classes x n_class) of its class (as scikit-learn's "balanced"), from the training split's counts."""
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    if class_weight == "none":
        return loss
    counts = np.array(list(train_counts.values()), dtype=np.float64)
    weights = counts.sum() / (len(counts) * np.maximum(counts, 1))
    return ClassWeightedLoss(loss, weights, contexts)


class ClassWeightedLoss:
    """A loss whose examples are weighted by their class (``weights[label]``), times any sample weight."""

    def __init__(self, loss, weights, contexts):
        self.loss = loss
        self.weights = weights
        self._per_context = {ctx: mx.nd.array(weights, ctx=ctx) for ctx in contexts}

    def __call__(self, output, label, sample_weight=None):
        weight = self._per_context[label.context].take(label).reshape((-1, 1))
        return self.loss(output, label, weight if sample_weight is None else weight * sample_weight)


def predictions(net, loader, contexts):
    """(predicted class, true class) of every item of ``loader``, in order, as numpy int arrays."""
    predicted, labels = [], []
    for x, y in loader:
        xs, _, _ = split_batch(x, y, contexts)
        predicted += [net(xi).argmax(axis=1).as_in_context(mx.cpu()) for xi in xs[:min(len(contexts), x.shape[0])]]
        labels.append(y)
    if not labels:
        return np.zeros((0,), dtype=np.int64), np.zeros((0,), dtype=np.int64)
    return (mx.nd.concat(*predicted, dim=0).asnumpy().astype(np.int64),
            mx.nd.concat(*labels, dim=0).asnumpy().astype(np.int64))
