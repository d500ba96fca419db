"""The offline demo: transfer learning shown end to end with no network and no files.

1. A synthetic *target* set in the real layout: hotdog vs not-hotdog drawings (synthetic.py).
2. A synthetic *source* set with one class per food kind, the hotdog among them, as ImageNet has its
   class 934. The target's images are made of the same parts, so features learned on the source transfer,
   the way ImageNet's features transfer to real hotdogs.
3. The same architecture is pretrained on the source (cached under data/demo, so a second run skips it),
   then ``compare`` runs the chosen strategies on the target at a small image size.

The target's training set is kept small on purpose, as in the chapter (2,000 images against ImageNet's
1.2 million): a net trained from scratch has too few examples to learn good features in a few epochs.
"""
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass

from .._io import building
from ..data.layout import default_data_dir
from ..data.synthetic import (
    DEMO_KEY_LENGTH,
    DEMO_TARGET_PREFIX,
    FOOD_KINDS,
    make_image_folder,
    make_source_folder,
)
from ..errors import HotdogError
from ..models.zoo import pretrained_net
from ..train.config import TrainConfig
from ..train.loop import train
from ..train.run_dir import RunFolderBusy, drop_resume_files
from .compare import DEFAULT_STRATEGIES, compare

log = logging.getLogger(__name__)

# A demo waiting for another demo's source pretraining (same data folder) looks again every WAIT_SECONDS,
# says so every NOTE_SECONDS, and gives up when the other run has written nothing for STALLED_SECONDS (a run
# on another machine that died cannot be told from a live one any other way; an epoch writes a checkpoint).
WAIT_SECONDS = 5.0
NOTE_SECONDS = 60.0
STALLED_SECONDS = 15 * 60.0


def demo_root():
    """Where the demo keeps its generated data and source-pretrained weights: DATA_DIR/demo."""
    return os.path.join(default_data_dir(), "demo")


GENERATOR_VERSION = 1  # bump when synthetic.py draws differently: invalidates the cached demo data


@dataclass
class DemoSettings:
    """Sizes of the demo. The defaults finish in a few minutes on a 2-core CPU."""
    model: str = "resnet18_v2"
    image_size: int = 48
    size_range: tuple = (64, 128)      # generated images, pixels a side
    target_train: int = 100            # per class
    target_test: int = 100             # per class
    source_train: int = 150            # per food kind
    source_test: int = 20
    # Six epochs at batch 64 (source test accuracy 0.65) teach the lesson as clearly as ten at batch 32 did
    # (0.79), in 40% of the time: fine-tuning 0.80-0.83 vs scratch 0.55-0.64 on seeds 0-2 (docs/PERFORMANCE.md).
    pretrain_epochs: int = 6
    # Adam trains this small from-scratch source task to ~85% in 10 epochs where SGD at 0.1 reached ~55%.
    pretrain_optimizer: str = "adam"
    pretrain_lr: float = 0.001
    pretrain_warmup: float = 0.0
    # The source pretraining is our stand-in for ImageNet training, which had its own recipe; a crop of at
    # least 30% of the image keeps the food in view at this small size. The target keeps the chapter's.
    pretrain_crop_scale: tuple = (0.3, 1.0)
    pretrain_batch_size: int = 64     # at 48 px, batches of 64 train ~1.4x faster per image than 16 here
    pretrain_val_fraction: float = 0.1
    epochs: int = 5
    batch_size: int = 32
    seed: int = 0

    def key(self, *fields):
        values = {f: getattr(self, f) for f in fields}
        values["generator"] = GENERATOR_VERSION
        return hashlib.sha1(json.dumps(values, sort_keys=True, default=list).encode()).hexdigest()[:DEMO_KEY_LENGTH]


SMOKE_SETTINGS = dict(image_size=32, target_train=6, target_test=4, source_train=6, source_test=2,
                      pretrain_epochs=1, pretrain_batch_size=16, epochs=1, batch_size=8)
DEMO_SIZES = ("standard", "tiny")  # tiny: a seconds-long smoke run (too small to show anything)


def demo_settings(size="standard", **overrides):
    """The demo's settings at ``size`` (one of DEMO_SIZES), with ``overrides`` on top."""
    if size not in DEMO_SIZES:
        raise ValueError("demo size must be one of {}, not {!r}".format(DEMO_SIZES, size))
    return DemoSettings(**dict(SMOKE_SETTINGS if size == "tiny" else {}, **overrides))


def _generate_once(folder, make):
    """Run ``make(tmp_folder)`` and rename the result to ``folder``; skip if it exists (a cache hit)."""
    if os.path.isdir(folder):
        return False
    with building(folder) as build:
        make(build.path)
    return True


def target_dir(settings, root=None):
    key = settings.key("size_range", "target_train", "target_test", "seed")
    folder = os.path.join(root or demo_root(), DEMO_TARGET_PREFIX + key)
    _generate_once(os.path.join(folder, "hotdog"), lambda tmp: make_image_folder(
        tmp, settings.target_train, settings.target_test, seed=settings.seed, size_range=settings.size_range))
    return folder


def source_classes():
    return tuple(sorted(FOOD_KINDS))


def source_run_dir(settings, root=None):
    """The run folder of the source pretraining: its checkpoints, then its model.params once finished."""
    key = settings.key("model", "image_size", "size_range", "source_train", "source_test", "seed", "pretrain_epochs",
                       "pretrain_lr", "pretrain_optimizer", "pretrain_warmup", "pretrain_crop_scale",
                       "pretrain_batch_size", "pretrain_val_fraction")
    return os.path.join(root or demo_root(), "source-{}-{}".format(settings.model, key))


def pretrain_config(settings, source_dir):
    """The source pretraining as a training run: scratch, on the source folder, with its own recipe."""
    return TrainConfig(strategy="scratch", model=settings.model, data_dir=source_dir, image_size=settings.image_size,
                       crop_scale=list(settings.pretrain_crop_scale), optimizer=settings.pretrain_optimizer,
                       lr=settings.pretrain_lr, momentum=0.9, wd=1e-4, warmup_epochs=settings.pretrain_warmup,
                       lr_schedule="cosine", epochs=settings.pretrain_epochs, batch_size=settings.pretrain_batch_size,
                       val_fraction=settings.pretrain_val_fraction, seed=settings.seed)


def pretrain_on_source(settings, contexts, root=None, quiet=False):
    """The source-pretrained net (len(FOOD_KINDS) classes), trained now or loaded from its finished run.

    The pretraining is an ordinary ``train`` run (the decode-once cache, static memory, the folder check,
    checkpoints), so it is as fast as any training run and an interrupted one resumes where it stopped.
    """
    root = root or demo_root()
    classes = source_classes()
    run_dir = source_run_dir(settings, root)
    params = os.path.join(run_dir, "model.params")
    if not os.path.exists(params):
        data_key = settings.key("size_range", "source_train", "source_test", "seed")
        source = os.path.join(root, "source-" + data_key)
        _generate_once(source, lambda tmp: make_source_folder(
            tmp, settings.source_train, settings.source_test, seed=settings.seed + 1, size_range=settings.size_range))
        log.info("pretraining %s on the synthetic source task: %d classes, %d epochs", settings.model, len(classes),
                 settings.pretrain_epochs)
        tic = time.time()
        result = _pretrain_unless_another_demo_does(pretrain_config(settings, source), run_dir, params, contexts,
                                                    quiet)
        if result is not None:
            last = result["history"][-1]
            # Finished: its checkpoint (weights and Adam's states) and best.params only served resuming, and
            # were three quarters of the folder (a class running the demo keeps one per home directory).
            freed = drop_resume_files(run_dir)
            log.info("  source test accuracy %.3f (%.0fs); kept in %s (%.0f MB of checkpoints removed)",
                     last["test_acc"], time.time() - tic, run_dir, freed / 1e6)
        else:
            log.info("  the other demo finished it (waited %.0fs); using %s", time.time() - tic, params)
    else:
        log.info("using the cached source-pretrained %s (%s)", settings.model, params)
    return pretrained_net(settings.model, params_file=params, ctx=contexts, classes=len(classes))


def _pretrain_unless_another_demo_does(config, run_dir, params, contexts, quiet):
    """Train the source net into ``run_dir``; None if another process finished it while we waited.

    Two demos on one data folder (a class sharing a home directory, two notebook cells) want the same
    pretraining. The run folder's lock lets only one train; the other waits for ``params`` instead of failing,
    and takes over from the last checkpoint if the first one stops without finishing.
    """
    started, noted = time.time(), None
    last_seen, seen_at = None, started  # the newest write in run_dir, and when (by our clock) it changed
    while True:
        try:
            # An interrupted pretraining left its checkpoints in run_dir: go on from the last one.
            return train(config, run_dir, contexts, resume=os.path.isdir(run_dir), quiet=quiet)
        except RunFolderBusy as busy:
            owner, now = busy.owner, time.time()
            newest = _last_write(run_dir)
            if newest != last_seen:  # compared with itself, not with our clock: shared storage's clock may differ
                last_seen, seen_at = newest, now
            if now - seen_at > STALLED_SECONDS:
                raise HotdogError(
                    "stopped waiting for the source pretraining in {}: its run (pid {} on {}, started {}) wrote "
                    "nothing there in the {} this demo waited. If no demo is running, delete {} and start again, "
                    "or give this demo another demo folder (--demo-root).".format(
                        run_dir, owner.get("pid"), owner.get("host"), owner.get("started"),
                        _duration(now - seen_at), busy.lock_path)) from None
            if noted is None or now - noted >= NOTE_SECONDS:
                elsewhere = owner.get("host") != socket.gethostname()
                log.info("another demo is pretraining the same source net in %s (pid %s on %s, started %s): "
                         "waiting for it%s. %s If no demo is running, delete %s.", run_dir, owner.get("pid"),
                         owner.get("host"), owner.get("started"),
                         " ({} so far)".format(_duration(now - started)) if noted else "",
                         "If it writes nothing for {}, this demo stops waiting.".format(_duration(STALLED_SECONDS))
                         if elsewhere else "If it stops, this demo goes on from its checkpoints.", busy.lock_path)
                noted = now
        time.sleep(WAIT_SECONDS)
        if os.path.exists(params):
            return None


def _last_write(folder):
    """The modification time of the newest file in ``folder`` (a run writes its checkpoints and history there
    each epoch), or None. Folders are left out: a waiting run's own attempts to take the lock touch them."""
    newest = None
    for parent, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):  # a file replaced or removed while we look
                mtime = os.path.getmtime(os.path.join(parent, name))
                newest = mtime if newest is None else max(newest, mtime)
    return newest


def _duration(seconds):
    return "{:.0f} minutes".format(seconds / 60) if seconds >= 120 else "{:.0f} seconds".format(seconds)


def run_demo(out_dir, contexts, strategies=DEFAULT_STRATEGIES, settings=None, root=None, lr_overrides=None,
             quiet=False, training=None, seeds=None):
    """Generate, pretrain (or reuse), compare; return the results dict (marked synthetic).

    ``training``: other TrainConfig fields for the comparison (wd, momentum, lr_schedule...). ``seeds``: the
    comparison's seeds (the data and the source pretraining keep ``settings.seed``).
    """
    settings = settings or DemoSettings()
    log.info("OFFLINE DEMO: the images are synthetic drawings and the 'pretrained' weights come from a "
             "synthetic source task, not ImageNet. It shows transfer learning working, not results on real "
             "hotdogs.")
    tic = time.time()
    data_dir = target_dir(settings, root)
    pretrained = pretrain_on_source(settings, contexts, root, quiet=quiet)
    base = TrainConfig(strategy="finetune", model=settings.model, data_dir=data_dir, epochs=settings.epochs,
                       batch_size=settings.batch_size, image_size=settings.image_size, seed=settings.seed,
                       # hotdog-init reuses the source task's own hotdog row
                       imagenet_class=str(source_classes().index("hotdog")), **(training or {}))
    results = compare(strategies, base, out_dir, contexts, pretrained=pretrained, lr_overrides=lr_overrides,
                      quiet=quiet, synthetic=True, seeds=seeds,
                      pretrained_note="synthetic source task ({} food kinds), demo settings {}".format(
                          len(source_classes()), json.dumps(asdict(settings), default=list)))
    log.info("demo finished in %.0fs; results in %s", time.time() - tic, out_dir)
    return results
