"""Multi-machine training on MXNet's parameter-server kvstore, on loopback only.

1 scheduler + 1 server + 2 workers on 127.0.0.1, ephemeral port, every process under a timeout and
killed even when the test fails.
"""
import contextlib
import json
import os
import re
import socket
import subprocess
import sys

import dist_step
import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from hotdog import _mx
from hotdog.train.config import TrainConfig
from hotdog.train.optim import make_trainer
from hotdog.train.step import train_step

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 240


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(port, role):
    env = dict(os.environ, DMLC_ROLE=role, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(port),
               DMLC_NUM_SERVER="1", DMLC_NUM_WORKER="2", DMLC_NODE_HOST="127.0.0.1", DMLC_INTERFACE="lo",
               OMP_NUM_THREADS="1", PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


@contextlib.contextmanager
def cluster_of_two(tmp_path):
    """Yields run_workers(argv): starts 2 workers with argv, waits, returns their (returncode, output)."""
    port = _free_port()
    procs = []
    log = open(str(tmp_path / "ps.log"), "w")
    try:
        for role in ("scheduler", "server"):  # importing mxnet with DMLC_ROLE set runs that role
            procs.append(subprocess.Popen([sys.executable, "-c", "import mxnet"], env=_env(port, role),
                                          stdout=log, stderr=subprocess.STDOUT))

        def run_workers(argv):
            workers = [subprocess.Popen(argv, env=_env(port, "worker"), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True) for _ in range(2)]
            procs.extend(workers)
            results = []
            for worker in workers:
                out, _ = worker.communicate(timeout=TIMEOUT)
                results.append((worker.returncode, out))
            return results
        yield run_workers
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        log.close()


def _weights(net):
    return {k: p.data().asnumpy() for k, p in _mx.params_by_structural_name(net).items()}


def test_dist_sync_step_equals_a_single_process_step_on_the_global_batch(tmp_path):
    init = str(tmp_path / "init.params")
    dist_step.make_initial_params(init)
    with cluster_of_two(tmp_path) as run_workers:
        results = run_workers([sys.executable, os.path.join(HERE, "dist_step.py"), init, str(tmp_path)])
    for code, out in results:
        assert code == 0, out
    assert_ranks_match_one_process(init, tmp_path)


def assert_ranks_match_one_process(init, folder):
    """Both workers' parameters after their step equal one process's step on the whole global batch."""
    net = dist_step.small_net()
    net.load_parameters(init)
    net.hybridize()
    trainer = make_trainer(net, TrainConfig(**dist_step.CONFIG), [mx.cpu()], 1)
    x, y = dist_step.global_batch()
    train_step(net, trainer, gluon.loss.SoftmaxCrossEntropyLoss(), x, y, [mx.cpu()])
    reference = _weights(net)
    initial = mx.nd.load(init)
    for rank in (0, 1):
        got = mx.nd.load(str(folder / "rank{}.params".format(rank)))
        for name, value in reference.items():
            assert not np.array_equal(value, initial[name].asnumpy()), name
            np.testing.assert_allclose(got[name].asnumpy(), value, atol=1e-5, rtol=0, err_msg=(rank, name))


def assert_one_model_everywhere(output, out_dir):
    """Both workers printed the same weight fingerprint; rank 0's history covers the 16 training images."""
    fingerprints = re.findall(r"worker (\d) of 2: final weights sha1 ([0-9a-f]{40})", output)
    assert sorted(rank for rank, _ in fingerprints) == ["0", "1"], output
    assert len({sha for _, sha in fingerprints}) == 1  # identical weights on both workers
    history = json.loads(open(os.path.join(out_dir, "history.json")).read())
    assert len(history) == 1 and history[0]["epoch"] == 1
    assert history[0]["train_images"] == 14  # the two shards together cover the training split (16 - 2 validation)


def test_resnet_epoch_on_two_workers(tiny_data, tmp_path):
    out = str(tmp_path / "run")
    argv = [sys.executable, "-m", "hotdog", "train", "--kvstore", "dist_sync", "--strategy", "scratch",
            "--data-dir", tiny_data, "--image-size", "32", "--epochs", "1", "--batch-size", "8",
            "--out", out, "--cache", "off"]
    with cluster_of_two(tmp_path) as run_workers:
        results = run_workers(argv)
    for code, output in results:
        assert code == 0, output
    assert_one_model_everywhere("".join(output for _, output in results), out)
    # One set of output files, written by rank 0.
    assert sorted(os.listdir(out)) == ["best.params", "checkpoint", "config.json", "history.csv", "history.json",
                                       "model.params"]


def test_distributed_resume_with_patience_keeps_workers_identical(tiny_data, tmp_path):
    out = str(tmp_path / "run")
    argv = lambda epochs: [sys.executable, "-m", "hotdog", "train", "--kvstore", "dist_sync", "--strategy", "scratch",
                           "--data-dir", tiny_data, "--image-size", "32", "--epochs", str(epochs), "--batch-size", "8",
                           "--out", out, "--cache", "off", "--patience", "5", "--resume"]
    for epochs in (1, 2):  # a first run, then a resumed one (rank 0's folder is shared: same machine)
        with cluster_of_two(tmp_path) as run_workers:
            results = run_workers(argv(epochs))
        for code, output in results:
            assert code == 0, output
    fingerprints = re.findall(r"worker (\d) of 2: final weights sha1 ([0-9a-f]{40})",
                              "".join(output for _, output in results))
    assert len(fingerprints) == 2 and len({sha for _, sha in fingerprints}) == 1
    assert [h["epoch"] for h in json.loads(open(os.path.join(out, "history.json")).read())] == [1, 2]


def test_dist_kvstore_without_its_environment_says_what_to_do(tiny_data, tmp_path, monkeypatch, capsys):
    from hotdog import cli
    for var in ("DMLC_ROLE", "DMLC_PS_ROOT_URI"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SystemExit):
        cli.main(["train", "--kvstore", "dist_nonsense", "--data-dir", tiny_data])
    assert "invalid choice: 'dist_nonsense'" in capsys.readouterr().err
    assert cli.main(["train", "--kvstore", "dist_sync", "--data-dir", tiny_data, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "environment: DMLC_ROLE, DMLC_PS_ROOT_URI," in err and "docs/DISTRIBUTED.md" in err, err
    assert "Traceback" not in err


def _horovodrun():
    try:
        import horovod.mxnet  # noqa: F401
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    return path if os.path.exists(path) else None


HOROVODRUN = _horovodrun()
needs_horovod = pytest.mark.skipif(HOROVODRUN is None, reason="Horovod is not installed (optional extra, "
                                   "docs/DISTRIBUTED.md): the Horovod checks did not run")


def _run_horovod(argv, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", HOROVOD_GLOO_IFACE="lo",
               PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([HOROVODRUN, "--gloo", "-np", "2", "-H", "localhost:2", "--network-interface", "lo"]
                            + argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=str(tmp_path), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)  # horovodrun and the workers it started
            proc.wait(timeout=30)
    return proc.returncode, out


@needs_horovod
def test_horovod_step_equals_a_single_process_step_on_the_global_batch(tmp_path):
    init = str(tmp_path / "init.params")
    dist_step.make_initial_params(init)
    code, out = _run_horovod([sys.executable, os.path.join(HERE, "dist_step.py"), init, str(tmp_path), "horovod"],
                             tmp_path)
    assert code == 0, out
    assert_ranks_match_one_process(init, tmp_path)


@needs_horovod
def test_horovod_resnet_epoch_on_two_workers(tiny_data, tmp_path):
    out = str(tmp_path / "run")
    code, output = _run_horovod([sys.executable, "-m", "hotdog", "train", "--distributed", "horovod",
                                 "--strategy", "scratch", "--data-dir", tiny_data, "--image-size", "32",
                                 "--epochs", "1", "--batch-size", "8", "--out", out, "--cache", "off"], tmp_path)
    assert code == 0, output
    assert_one_model_everywhere(output, out)
