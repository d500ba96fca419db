"""What happens around the epoch loop, as hooks: progress, the divergence stop, distributed sync, keeping the
best weights, checkpoints, early stopping.

The idea of fastai's callbacks and Keras' callbacks, kept small: a hook overrides the moments it cares
about, and the loop (``loop.fit``) calls every hook at each moment in list order. A hook reads and may
change the ``Run`` it is given; setting ``run.stop`` ends training after the current epoch.

``on_batch_end`` is on the hot path: it gets the step's figures still on the devices and must not wait for
them (the divergence check reads the *previous* batch's loss, so the devices are never drained).
"""
import logging
import math
import os
import shutil
import tempfile

import numpy as np
from tqdm import tqdm

from .._io import show_progress
from ..errors import HotdogError
from .run_dir import CHECKPOINT_DIR, save_checkpoint, save_params, write_history

log = logging.getLogger(__name__)

METRIC_KEY = (1 << 20) - 1  # kvstore key for the training figures of a distributed run


class TrainingDiverged(HotdogError):
    """The loss became NaN or infinite."""


class Hook:
    """Override the moments you need. ``run`` is the loop's ``Run``."""

    def on_train_begin(self, run):
        pass

    def on_epoch_begin(self, run):
        pass

    def on_batch_end(self, run, batch_index, n_images, per_context):
        pass

    def after_train_pass(self, run, figures):
        """``figures``: {'loss', 'acc', 'images'} of the pass; a hook may replace them (distributed sums)."""

    def on_epoch_end(self, run, record):
        """``record``: the epoch's history entry, already appended to ``run.history``."""

    def on_train_end(self, run):
        pass


def _kept(run, then="with --resume and a lower --lr"):
    if not run.history:
        return "no epoch completed, so there is no checkpoint"
    return "the last good checkpoint (epoch {}) is kept in {}; resume from it {}".format(
        run.history[-1]["epoch"], os.path.join(run.out_dir, CHECKPOINT_DIR), then)


class DivergenceStop(Hook):
    """Stop at once when the loss becomes NaN or infinite, keeping the last good checkpoint.

    Each batch's check reads the previous batch's loss (one scalar), so the host runs at most one batch
    ahead and a NaN is still caught one batch later. A finite training loss with a NaN validation loss, or
    with weights that are no longer finite (blown up at the very end of the pass), is divergence too: that
    epoch must not become a checkpoint. (The test set is only reported; it decides nothing.)
    """

    def on_epoch_begin(self, run):
        self._pending = None

    def on_batch_end(self, run, batch_index, n_images, per_context):
        if self._pending is not None:
            self._check(run, *self._pending)
        self._pending = (batch_index, per_context)

    def after_train_pass(self, run, figures):
        if self._pending is not None:
            self._check(run, *self._pending)

    def _check(self, run, batch_index, per_context):
        value = sum(loss.asscalar() for loss, _ in per_context)
        if not math.isfinite(value):
            raise TrainingDiverged("training diverged: the loss became {} in epoch {}, batch {} (learning rate "
                                   "{:g}). Stopped; {}.".format(value, run.epoch, batch_index + 1, run.lr, _kept(run)))

    def on_epoch_end(self, run, record):
        if math.isfinite(record["val_loss"]) and self._weights_finite(run.block):
            return
        run.history.pop()  # not a good epoch: it is neither checkpointed nor reported
        what = "the validation loss became {}".format(record["val_loss"]) if not math.isfinite(record["val_loss"]) \
            else "some weights became infinite or NaN"
        raise TrainingDiverged("training diverged: {} after epoch {} (learning rate {:g}). Stopped; {}.".format(
            what, run.epoch, run.lr, _kept(run)))

    @staticmethod
    def _weights_finite(block):
        # The weights themselves, not the test loss: the test set decides nothing, and a few validation
        # images can still score finitely with weights that have blown up.
        return all(np.isfinite(p.data().asnumpy()).all() for p in block.collect_params().values())


class ProgressBar(Hook):
    """A tqdm bar over each epoch's training images, on a terminal only."""

    def __init__(self, quiet=False):
        self.enabled = show_progress(quiet)

    def on_epoch_begin(self, run):
        self._bar = tqdm(total=run.train_size, unit="img", leave=False, desc="epoch {}".format(run.epoch),
                         disable=not self.enabled)

    def on_batch_end(self, run, batch_index, n_images, per_context):
        self._bar.update(n_images)

    def after_train_pass(self, run, figures):
        self._bar.close()


class ProgressLog(Hook):
    """One line when training starts and one per epoch, to the ``hotdog`` logger."""

    def on_train_begin(self, run):
        config = run.config
        log.info("training %s (%s) on %s for epochs %d..%d: %d train / %d validation / %d test images, batch %d, "
                 "lr %g", config.strategy, config.model, ", ".join(str(c) for c in run.contexts), run.start_epoch + 1,
                 config.epochs, run.train_size, run.val_size, run.test_size, config.batch_size, config.lr)

    def on_epoch_end(self, run, record):
        log.info("epoch %d/%d  train loss %.4f acc %.3f  val loss %.4f acc %.3f  test acc %.3f  %.1fs  %.1f img/s",
                 run.epoch, run.config.epochs, record["train_loss"], record["train_acc"], record["val_loss"],
                 record["val_acc"], record["test_acc"], record["seconds"], record["train_images_per_sec"])


class DistributedSync(Hook):
    """After each training pass of a distributed run: the same BatchNorm statistics and the same training
    figures on every worker, so every worker evaluates the same weights and reports the same numbers."""

    def __init__(self, cluster):
        self.cluster = cluster

    def after_train_pass(self, run, figures):
        self.cluster.average_aux_states(run.block, run.contexts)
        n = figures["images"]
        loss_sum, correct, n_images = self.cluster.allreduce_sum(
            METRIC_KEY, np.array([figures["loss"] * n, figures["acc"] * n, n]))
        figures.update(loss=loss_sum / n_images, acc=correct / n_images, images=int(n_images))

    def on_train_end(self, run):
        from .distributed import fingerprint
        run.fingerprint = fingerprint(run.net)


class BestWeights(Hook):
    """Keep the weights of the epoch with the lowest validation loss in ``best.params`` (and, with
    ``restore``, end training with them). The test figures of that epoch are recorded, never compared.

    Every worker of a distributed run keeps its own copy, since only rank 0 writes to OUT; on a distributed
    resume the other workers start from rank 0's copy (shared storage).
    """

    def __init__(self, restore=False):
        self.restore = restore

    def on_train_begin(self, run):
        shared = os.path.join(run.out_dir, "best.params")
        if run.writes:
            self.path = shared
        else:
            self.path = os.path.join(tempfile.mkdtemp(prefix="hotdog-worker-"), "best.params")
            if run.resumed and os.path.exists(shared):
                shutil.copyfile(shared, self.path)

    def on_epoch_end(self, run, record):
        if run.best is None or record["val_loss"] < run.best["val_loss"]:
            run.best = {"epoch": record["epoch"], "val_loss": record["val_loss"], "val_acc": record["val_acc"],
                        "test_acc": record["test_acc"]}
            save_params(run.block, self.path)

    def on_train_end(self, run):
        if self.restore and run.best is not None:
            run.block.load_parameters(self.path, ctx=run.contexts)
        if not run.writes:
            shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


class Checkpointer(Hook):
    """After every epoch: the checkpoint (``state.json`` last, as the commit point) and the history files.
    Only the process that writes (rank 0 of a distributed run) does."""

    def on_epoch_end(self, run, record):
        if not run.writes:
            return
        try:
            save_checkpoint(run.out_dir, run.epoch, run.block, run.trainer,
                            {"history": run.history, "best": run.best, "config": run.config.to_dict()})
            write_history(run.out_dir, run.history)
        except OSError as exc:  # a full disk, a folder gone read-only: the previous checkpoint is still whole
            run.history.pop()
            raise HotdogError("could not write the checkpoint of epoch {} ({}). Stopped; {}. Free some space (or "
                              "fix the folder) first.".format(run.epoch, exc.strerror or exc, _kept(run, "with --resume"))) from None


class EarlyStopping(Hook):
    """Stop when the validation loss has not improved for ``patience`` epochs (after that epoch's checkpoint)."""

    def __init__(self, patience):
        self.patience = patience

    def on_epoch_end(self, run, record):
        if run.epoch - run.best["epoch"] >= self.patience:
            log.info("early stop: the validation loss has not improved for %d epochs (lowest: epoch %d)",
                     self.patience, run.best["epoch"])
            run.stop = True
