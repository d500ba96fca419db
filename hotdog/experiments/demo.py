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
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass

import mxnet as mx
from mxnet.gluon.model_zoo.vision import get_model

from .._io import atomic_save, building
from ..data.layout import default_data_dir
from ..data.pipeline import load_datasets, make_loader
from ..data.synthetic import (
    DEMO_KEY_LENGTH,
    DEMO_TARGET_PREFIX,
    FOOD_KINDS,
    make_image_folder,
    make_source_folder,
)
from ..models.backbones import get_backbone
from ..models.zoo import pretrained_net
from ..train.config import TrainConfig
from ..train.hooks import TrainingDiverged
from ..train.optim import make_trainer, seed_everything
from ..train.step import evaluate_loss_acc, train_pass
from .compare import DEFAULT_STRATEGIES, compare

log = logging.getLogger(__name__)

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
    pretrain_epochs: int = 10
    # Adam trains this small from-scratch source task to ~85% in 10 epochs where SGD at 0.1 reached ~55%.
    pretrain_optimizer: str = "adam"
    pretrain_lr: float = 0.001
    pretrain_warmup: float = 0.0
    # The source pretraining is our stand-in for ImageNet training, which had its own recipe; a crop of at
    # least 30% of the image keeps the food in view at this small size. The target keeps the chapter's.
    pretrain_crop_scale: tuple = (0.3, 1.0)
    epochs: int = 5
    batch_size: int = 16
    seed: int = 0

    def key(self, *fields):
        values = {f: getattr(self, f) for f in fields}
        values["generator"] = GENERATOR_VERSION
        return hashlib.sha1(json.dumps(values, sort_keys=True, default=list).encode()).hexdigest()[:DEMO_KEY_LENGTH]


SMOKE_SETTINGS = dict(image_size=32, target_train=6, target_test=4, source_train=6, source_test=2,
                      pretrain_epochs=1, epochs=1, batch_size=8)


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


def pretrain_on_source(settings, contexts, root=None):
    """The source-pretrained net (len(FOOD_KINDS) classes), trained now or loaded from the cache."""
    root = root or demo_root()
    classes = source_classes()
    data_key = settings.key("size_range", "source_train", "source_test", "seed")
    model_key = settings.key("model", "image_size", "size_range", "source_train", "source_test", "seed",
                             "pretrain_epochs", "pretrain_lr", "pretrain_optimizer", "pretrain_warmup",
                             "pretrain_crop_scale", "batch_size")
    params = os.path.join(root, "source-{}-{}.params".format(settings.model, model_key))
    if os.path.exists(params):
        log.info("using the cached source-pretrained %s (%s)", settings.model, params)
        return pretrained_net(settings.model, params_file=params, ctx=contexts, classes=len(classes))

    source = os.path.join(root, "source-" + data_key)
    _generate_once(source, lambda tmp: make_source_folder(
        tmp, settings.source_train, settings.source_test, seed=settings.seed + 1, size_range=settings.size_range))
    train_set, test_set = load_datasets(source, settings.image_size, classes, settings.pretrain_crop_scale)
    train_loader = make_loader(train_set, settings.batch_size * 2, shuffle=True)
    test_loader = make_loader(test_set, settings.batch_size * 2)
    config = TrainConfig(strategy="scratch", lr=settings.pretrain_lr, momentum=0.9, wd=1e-4,
                         optimizer=settings.pretrain_optimizer, warmup_epochs=settings.pretrain_warmup,
                         epochs=settings.pretrain_epochs, lr_schedule="cosine", batch_size=settings.batch_size * 2)
    seed_everything(settings.seed)
    net = get_model(get_backbone(settings.model).zoo_name, classes=len(classes))
    net.initialize(mx.init.Xavier(), ctx=contexts)
    net.hybridize()
    trainer = make_trainer(net, config, contexts, len(train_loader))
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    log.info("pretraining %s on the synthetic source task: %d classes, %d images, %d epochs", settings.model,
             len(classes), len(train_set), settings.pretrain_epochs)
    tic = time.time()
    for epoch in range(1, settings.pretrain_epochs + 1):
        seed_everything(settings.seed, epoch)
        loss, acc, _ = train_pass(net, trainer, train_loader, contexts, loss_fn)
        if not math.isfinite(loss):
            raise TrainingDiverged("the demo's source pretraining diverged (loss {} in epoch {}); try another "
                                   "seed".format(loss, epoch))
        log.info("  source epoch %d/%d: loss %.3f, train acc %.3f", epoch, settings.pretrain_epochs, loss, acc)
    _, test_acc = evaluate_loss_acc(net, test_loader, contexts, loss_fn)
    log.info("  source test accuracy %.3f (%.0fs); cached as %s", test_acc, time.time() - tic, params)
    atomic_save(net.save_parameters, params)
    return net


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
    pretrained = pretrain_on_source(settings, contexts, root)
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
