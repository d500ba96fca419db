"""Worker program for the distributed tests: one optimisation step of a small net without BatchNorm.

Run as a dist_sync worker (DMLC_* environment): takes its half of a fixed global batch by rank, makes one
step through the package's own trainer and step function, and saves its parameters as OUT/rank<r>.params.
The test imports the same helpers to make the single-process reference step.
"""
import os
import sys

import mxnet as mx
import numpy as np
from mxnet.gluon import nn

GLOBAL_BATCH = 6
CONFIG = dict(strategy="scratch", lr=0.1, momentum=0.9, wd=0.01)


def small_net():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, activation="relu"), nn.GlobalAvgPool2D(), nn.Dense(2))
    return net


def global_batch():
    rng = np.random.RandomState(0)
    return (mx.nd.array(rng.uniform(size=(GLOBAL_BATCH, 3, 8, 8))), mx.nd.array(np.arange(GLOBAL_BATCH) % 2))


def make_initial_params(path):
    mx.random.seed(1)
    net = small_net()
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 8, 8)))
    net.save_parameters(path)


def main(init_path, out_dir, backend="dist_sync"):
    from hotdog.train.config import TrainConfig
    from hotdog.train.distributed import HorovodCluster, connect
    from hotdog.train.optim import make_trainer
    from hotdog.train.step import train_step
    cluster = HorovodCluster() if backend == "horovod" else connect(backend)
    contexts = [mx.cpu()]
    net = small_net()
    net.load_parameters(init_path, ctx=contexts)
    net.hybridize()
    trainer = make_trainer(net, TrainConfig(**CONFIG), contexts, 1, cluster=cluster)
    x, y = global_batch()
    share = GLOBAL_BATCH // cluster.num_workers
    lo = cluster.rank * share
    train_step(net, trainer, mx.gluon.loss.SoftmaxCrossEntropyLoss(), x[lo:lo + share], y[lo:lo + share], contexts,
               step_scale=cluster.step_workers)
    net.save_parameters(os.path.join(out_dir, "rank{}.params".format(cluster.rank)))


if __name__ == "__main__":
    main(*sys.argv[1:])
