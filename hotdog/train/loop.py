"""The training loop: set a run up from its config, then one epoch loop with hooks around it.

``train`` trains one stage of one strategy into a run folder. It never tests a strategy's name: it asks
the ``Strategy`` object (config.strategy_spec) what to build and what to train. What happens around
the epochs (progress, the divergence stop, distributed sync, best weights, checkpoints, early stopping) is
in ``hooks.py``; ``recipes.run_strategy`` runs a strategy's stages.
"""
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, List, Optional

from mxnet.gluon import Block

from .._io import atomic_write_bytes
from ..data.check import require_usable
from ..data.folders import dataset_root
from ..data.layout import discover_classes
from ..data.pipeline import load_splits, make_loader
from ..errors import HotdogError
from .config import TrainConfig, resume_keys
from .hooks import (
    BestWeights,
    Checkpointer,
    DistributedSync,
    DivergenceStop,
    EarlyStopping,
    ProgressBar,
    ProgressLog,
)
from .optim import make_trainer, seed_everything
from .run_dir import load_checkpoint_state, run_lock, save_params, write_model_config
from .step import (
    evaluate_loss_acc,
    features_dataset,
    make_loss,
    predictions,
    train_pass,
)

log = logging.getLogger(__name__)

SKIPPED_FILE = "skipped-images.txt"  # with --skip-bad-images: the images left out, one path a line


@dataclass
class Run:
    """The state of one training run, as the loop and its hooks see it."""
    config: Any
    out_dir: str
    contexts: list
    net: Any = None           # the whole net (what model.params holds)
    block: Any = None         # what trains and is checkpointed: the net, or only its output (on_features)
    trainer: Any = None
    train_size: int = 0
    val_size: int = 0
    test_size: int = 0
    writes: bool = True       # False on the workers of a distributed run other than rank 0
    resumed: bool = False
    start_epoch: int = 0
    epoch: int = 0
    lr: float = 0.0
    stage: int = 1
    history: List[dict] = field(default_factory=list)
    best: Optional[dict] = None
    stop: bool = False
    fingerprint: Optional[str] = None


def default_hooks(config, cluster=None, quiet=False):
    """The hooks every run has, in the order they must run at each moment.

    Divergence first (a diverged epoch must reach no other hook), distributed sync before anything reads
    the training figures, best weights before the checkpoint that records them, early stopping last (after
    its epoch is safely checkpointed).
    """
    hooks = [DivergenceStop(), ProgressBar(quiet)]
    if cluster is not None:
        hooks.append(DistributedSync(cluster))
    hooks += [ProgressLog(), BestWeights(restore=bool(config.patience)), Checkpointer()]
    if config.patience:
        hooks.append(EarlyStopping(config.patience))
    return hooks


def check_resumable(saved, config):
    """Refuse to resume a checkpoint made with different settings, naming every one that differs."""
    # A setting newer than the checkpoint was made with its default (``from_dict`` reads it so too).
    saved = asdict(TrainConfig.from_dict(saved))
    different = [k for k in resume_keys() if saved.get(k) != getattr(config, k)]
    if saved.get("lr") != config.lr and (config.lr_schedule != "constant" or config.warmup_epochs):
        different.append("lr")
    if different:
        raise HotdogError("cannot resume: the checkpoint was made with different settings ({}). Use the same "
                          "options, or another --out.".format(", ".join(
                              "{}={!r} not {!r}".format(k, saved.get(k), getattr(config, k)) for k in different)))


def train(config, out_dir, contexts, pretrained=None, resume=False, quiet=False, kvstore=None, init_params=None,
          stage=1, cluster=None, hooks=None, exclude=None):
    """Train ``config`` (one stage of its strategy) into ``out_dir``; return a summary dict (history, best
    epoch, paths).

    ``pretrained``: the pretrained net, or a function that returns it (called only if this run needs it: a
    resumed run reloads its own weights). ``init_params``: start from a model saved by an earlier stage
    instead; ``stage`` is recorded in the history. ``cluster``: a distributed run's cluster (only its rank 0
    writes). ``quiet``: no progress bars (messages go to the ``hotdog`` logger either way). ``hooks``:
    replaces ``default_hooks``. ``exclude``: None checks the image folder first
    (``check.require_usable``); a caller that just did passes the images to leave out (maybe none).
    """
    run = Run(config=config, out_dir=out_dir, contexts=contexts, stage=stage,
              writes=cluster is None or cluster.is_root)
    if not run.writes:
        return _train(run, pretrained, resume, quiet, kvstore, init_params, cluster, hooks, exclude)
    os.makedirs(out_dir, exist_ok=True)
    with run_lock(out_dir):
        return _train(run, pretrained, resume, quiet, kvstore, init_params, cluster, hooks, exclude)


def _train(run, pretrained, resume, quiet, kvstore, init_params, cluster, hooks, exclude):
    config, out_dir, contexts, strategy = run.config, run.out_dir, run.contexts, run.config.strategy_spec
    state = load_checkpoint_state(out_dir) if resume else None
    if resume and state is None:
        log.info("no checkpoint in %s; starting from epoch 1", out_dir)
    if state is not None:
        check_resumable(state["config"], config)
        run.resumed, run.history, run.best, run.start_epoch = True, state["history"], state.get("best"), state["epoch"]

    root = dataset_root(config.data_dir)
    skipped = require_usable(root, config.image_size, config.skip_bad_images) if exclude is None else list(exclude)
    classes = discover_classes(root)
    strategy.check_classes(classes)
    if cluster and strategy.on_features:
        raise HotdogError("the {} strategy runs on one machine (its epochs take milliseconds); drop --kvstore".format(
            config.strategy))
    world_size = cluster.num_workers if cluster else 1
    local_batch = config.batch_size // world_size
    if local_batch < 1:
        raise HotdogError("--batch-size {} is the global batch; it must be at least the number of workers ({})".format(
            config.batch_size, world_size))
    train_set, val_set, test_set, split = load_splits(
        config.data_dir, config.image_size, config.val_fraction, config.seed, crop_scale=config.crop_scale,
        cache=config.cache,
        augment=config.augment and not strategy.on_features, quiet=quiet, exclude=skipped)
    if skipped and run.writes:
        atomic_write_bytes(os.path.join(out_dir, SKIPPED_FILE), "".join(path + "\n" for path in skipped).encode())
    run.train_size, run.val_size, run.test_size = len(train_set), len(val_set), len(test_set)
    log.info("images per class: %s (validation: %s)", "; ".join("{} {}".format(name, ", ".join(
        "{} {}".format(cls, n) for cls, n in counts.items())) for name, counts in split["counts"].items()),
        split["validation"])
    sampler = None
    if cluster:
        from .distributed import ShardSampler
        sampler = ShardSampler(len(train_set), cluster.rank, world_size, config.seed)
        if local_batch * world_size != config.batch_size:
            log.warning("global batch %d is not a multiple of %d workers: using %d per worker",
                        config.batch_size, world_size, local_batch)
    train_loader = make_loader(train_set, local_batch, shuffle=True, num_workers=config.workers, sampler=sampler)
    val_loader = make_loader(val_set, config.batch_size, shuffle=False, num_workers=config.workers)
    test_loader = make_loader(test_set, config.batch_size, shuffle=False, num_workers=config.workers)

    # A run on stored features checkpoints only the output layer: its net is rebuilt from the pretrained one.
    reload_own_weights = state is not None and not strategy.on_features
    needs_pretrained = strategy.pretrained and not reload_own_weights and not init_params
    if pretrained is not None and not isinstance(pretrained, Block):  # a function that loads it
        pretrained = pretrained() if needs_pretrained else None
    seed_everything(config.seed)  # the new output layer's (or the scratch net's) initialisation
    run.net = strategy.build(pretrained, config.model, num_classes=len(classes), ctx=contexts,
                             output_lr_mult=config.output_lr_mult, imagenet_class=config.imagenet_class,
                             params_file=state["params"] if reload_own_weights else init_params)
    run.net.hybridize(static_alloc=True)
    run.block = run.net
    if strategy.on_features:
        tic = time.time()
        # Extracted in dataset order, so each epoch's shuffle draws the same batches as a frozen run would.
        in_order = make_loader(train_set, config.batch_size, num_workers=config.workers)
        train_loader = make_loader(features_dataset(run.net, in_order, contexts), config.batch_size, shuffle=True)
        val_loader = make_loader(features_dataset(run.net, val_loader, contexts), config.batch_size)
        test_loader = make_loader(features_dataset(run.net, test_loader, contexts), config.batch_size)
        log.info("features of %d train, %d validation and %d test images computed once in %.1fs", len(train_set),
                 len(val_set), len(test_set), time.time() - tic)
        run.block = run.net.output
        if state is not None:
            run.block.load_parameters(state["params"], ctx=contexts)
        run.block.hybridize(static_alloc=True)
    run.trainer = make_trainer(run.block, config, contexts, len(train_loader), kvstore, cluster=cluster)
    if state is not None:
        run.trainer.load_states(state["states"])
        # A new --lr on resuming a constant schedule (check_resumable refuses it for the others, whose
        # scheduler sets the rate itself: learning_rate then differs from config.lr by design).
        scheduled = config.lr_schedule != "constant" or config.warmup_epochs
        if not scheduled and run.trainer.learning_rate != config.lr:
            log.info("resuming with learning rate %g (was %g)", config.lr, run.trainer.learning_rate)
            run.trainer.set_learning_rate(config.lr)

    hooks = default_hooks(config, cluster, quiet) if hooks is None else hooks
    loss_fn = make_loss(config.class_weight, split["counts"]["train"], contexts)
    fit(run, train_loader, val_loader, test_loader, hooks, loss_fn, sampler=sampler,
        step_scale=cluster.step_workers if cluster else 1)

    model_path = os.path.join(out_dir, "model.params")
    if run.writes:
        save_params(run.net, model_path)
        write_model_config(out_dir, config, strategy.saved_name, run.best, classes, split)
    # The final model's answer on every test image, for paired comparisons (compare's McNemar test).
    predicted, labels = predictions(run.block, test_loader, contexts)
    return {"history": run.history, "best": run.best, "stopped_early": run.stop, "model": model_path,
            "contexts": [str(c) for c in contexts], "classes": list(classes), "fingerprint": run.fingerprint,
            "split": split, "test_predicted": predicted.tolist(), "test_labels": labels.tolist()}


def fit(run, train_loader, val_loader, test_loader, hooks, loss_fn, sampler=None, step_scale=1):
    """The epoch loop: train, evaluate on validation (what hooks choose by) and test (reported only),
    record, with every hook called at its moment."""
    def call(moment, *args):
        for hook in hooks:
            getattr(hook, moment)(run, *args)

    call("on_train_begin")
    for epoch in range(run.start_epoch + 1, run.config.epochs + 1):
        run.epoch, run.lr = epoch, run.trainer.learning_rate
        seed_everything(run.config.seed, epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        call("on_epoch_begin")
        tic = time.time()
        loss, acc, images = train_pass(run.block, run.trainer, train_loader, run.contexts, loss_fn,
                                       on_batch=lambda *args: call("on_batch_end", *args), step_scale=step_scale)
        train_seconds = time.time() - tic
        figures = {"loss": loss, "acc": acc, "images": images}
        call("after_train_pass", figures)
        val_loss, val_acc = evaluate_loss_acc(run.block, val_loader, run.contexts, loss_fn)
        test_loss, test_acc = evaluate_loss_acc(run.block, test_loader, run.contexts, loss_fn)
        record = {"epoch": epoch, "stage": run.stage, "lr": run.lr, "train_loss": figures["loss"],
                  "train_acc": figures["acc"], "val_loss": val_loss, "val_acc": val_acc,
                  "test_loss": test_loss, "test_acc": test_acc,
                  "train_images": figures["images"], "seconds": time.time() - tic,
                  "train_images_per_sec": figures["images"] / train_seconds if train_seconds > 0 else float("nan")}
        run.history.append(record)
        call("on_epoch_end", record)
        if run.stop:
            break
    call("on_train_end")
