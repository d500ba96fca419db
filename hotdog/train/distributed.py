"""Training on several machines with MXNet's parameter-server kvstore (``dist_sync``, ``dist_device_sync``).

Every worker runs ``hotdog train --kvstore dist_sync`` with the standard ``DMLC_*`` environment (see
docs/DISTRIBUTED.md). Then:

* each epoch, one permutation of the training set shared by all workers (seeded by seed and epoch) is cut
  into equal shards, one per worker by rank; the shards together cover the set (a shard that comes up
  short is padded by wrapping around, so every worker takes the same number of equal-sized steps);
* the Trainer sums the gradients of all workers through the kvstore and every worker applies the same
  update locally (``update_on_kvstore=False``), with ``step(global batch)``: the mean over the global batch;
* BatchNorm running statistics are not trained parameters, so each worker's drift apart: they are averaged
  across workers after every epoch, and so are the training loss and accuracy sums. Every worker then
  evaluates the same weights and reports the same figures;
* only rank 0 writes checkpoints, history and results.
"""
import hashlib
import logging
import os

import mxnet as mx
import numpy as np
from mxnet.gluon.data import Sampler

from .. import _mx
from ..errors import ConfigError, HotdogError

log = logging.getLogger(__name__)

DIST_KVSTORES = ("dist_sync", "dist_device_sync")
KVSTORES = ("device", "local") + DIST_KVSTORES
# Keys for what the package synchronises itself; the Trainer uses 0..len(params)-1.
_AUX_KEY_BASE = 1 << 20


class Cluster:
    """This process's place in a distributed run on the parameter-server kvstore.

    The interface the training loop uses (Horovod has the same): rank, num_workers, is_root, step_workers,
    make_trainer, allreduce_sum, average_aux_states.
    """

    def __init__(self, kvstore):
        self.kv = kvstore
        self.rank = kvstore.rank
        self.num_workers = kvstore.num_workers
        self._initialised = set()  # the package's own kvstore keys (init is collective, once per key)

    @property
    def is_root(self):
        return self.rank == 0

    @property
    def step_workers(self):
        """The kvstore sums the workers' gradients: step() must divide by num_workers x the local batch."""
        return self.num_workers

    def make_trainer(self, params, optimizer, optimizer_params):
        # Each worker applies the summed gradient itself, so step() can divide by the true global batch every
        # time (with update_on_kvstore the scale is fixed at the first step and a short last batch fails).
        trainer = mx.gluon.Trainer(params, optimizer, optimizer_params, kvstore=self.kv, update_on_kvstore=False)
        # Gluon would initialise the kvstore inside the first step(), racing the first gradient push.
        _mx.init_kvstore_now(trainer)
        return trainer

    def allreduce_sum(self, key, values):
        """Sum ``values`` (a numpy array) over all workers."""
        array = mx.nd.array(values, dtype="float64")
        self._init_once(key, array)
        self.kv.push(key, array)
        out = mx.nd.zeros(array.shape, dtype="float64")
        self.kv.pull(key, out=out)
        return out.asnumpy()

    def average_aux_states(self, net, contexts):
        """Average every BatchNorm running statistic over all workers and contexts, in place."""
        for offset, param in enumerate(_mx.running_stat_params(net)):
            key = _AUX_KEY_BASE + offset
            copies = param.list_data()
            self._init_once(key, copies[0])
            self.kv.push(key, copies)
            self.kv.pull(key, out=copies)
            for copy in copies:
                copy /= self.num_workers * len(contexts)

    def _init_once(self, key, like):
        if key not in self._initialised:
            self.kv.init(key, mx.nd.zeros(like.shape, dtype=like.dtype))
            self._initialised.add(key)


class HorovodCluster:
    """The same interface on Horovod (``pip install horovod`` built with MXNet; ``horovodrun`` starts it)."""

    def __init__(self):
        try:
            import horovod.mxnet as hvd
        except ImportError:
            raise HotdogError("--distributed horovod needs Horovod built for MXNet: HOROVOD_WITH_MXNET=1 "
                              "HOROVOD_WITH_GLOO=1 pip install --no-build-isolation horovod (docs/DISTRIBUTED.md)") from None
        hvd.init()
        self.hvd = hvd
        self.rank, self.num_workers, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()
        self._calls = 0

    @property
    def is_root(self):
        return self.rank == 0

    @property
    def step_workers(self):
        """DistributedTrainer averages the gradients already: step() divides by the local batch."""
        return 1

    def contexts(self):
        """One device per process: its local GPU, or the CPU."""
        return [mx.gpu(self.local_rank)] if mx.context.num_gpus() else [mx.cpu()]

    def make_trainer(self, params, optimizer, optimizer_params):
        trainer = self.hvd.DistributedTrainer(params, optimizer, optimizer_params)
        self.hvd.broadcast_parameters(params, root_rank=0)  # every worker starts from rank 0's weights
        return trainer

    def _name(self, what):
        self._calls += 1
        return "hotdog.{}.{}".format(what, self._calls)

    def allreduce_sum(self, key, values):
        summed = self.hvd.allreduce(mx.nd.array(values, dtype="float64"), average=False, name=self._name("metrics"))
        return summed.asnumpy()

    def average_aux_states(self, net, contexts):
        for param in _mx.running_stat_params(net):
            for copy in param.list_data():
                self.hvd.allreduce_(copy, average=True, name=self._name(param.name))


def connect(kvstore):
    """A Cluster for a dist kvstore type (reads the DMLC_* environment), None for a single machine."""
    if kvstore not in KVSTORES:
        raise ConfigError("kvstore", "must be one of {} (got {!r})".format(", ".join(KVSTORES), kvstore))
    if kvstore not in DIST_KVSTORES:
        return None
    missing = [v for v in ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER", "DMLC_NUM_WORKER")
               if v not in os.environ]
    if missing:
        raise HotdogError("--kvstore {} needs the parameter-server environment: {} not set. Start it with "
                          "MXNet's tools/launch.py or by hand (docs/DISTRIBUTED.md).".format(kvstore, ", ".join(missing)))
    cluster = Cluster(mx.kv.create(kvstore))
    log.info("worker %d of %d (%s)", cluster.rank, cluster.num_workers, kvstore)
    return cluster


class ShardSampler(Sampler):
    """This worker's shard of a permutation shared by all workers; call ``set_epoch`` before each epoch.

    Shards have equal length: ceil(n / num_workers), the last ones padded by wrapping around.
    """

    def __init__(self, length, rank, num_workers, seed=0):
        self._length, self._rank, self._workers, self._seed = length, rank, num_workers, seed
        self._epoch = 0
        self.shard_length = -(-length // num_workers)

    def set_epoch(self, epoch):
        self._epoch = epoch

    def __iter__(self):
        order = np.random.RandomState((self._seed * 100003 + self._epoch) % (2 ** 32)).permutation(self._length)
        padded = np.concatenate([order, order[:self.shard_length * self._workers - self._length]])
        return iter(padded[self._rank::self._workers].tolist())

    def __len__(self):
        return self.shard_length


def fingerprint(net):
    """sha1 of every parameter's bytes, in name order: equal on two workers iff their weights are equal."""
    digest = hashlib.sha1()
    for name, param in sorted(_mx.params_by_structural_name(net).items()):
        digest.update(name.encode())
        digest.update(param.data().asnumpy().tobytes())
    return digest.hexdigest()
