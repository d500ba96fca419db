"""What a training run leaves on disk (written atomically: temp file, then rename), and reading it back.

OUT/
  config.json      everything needed to rebuild the net (model, strategy, classes, image size...)
  history.json     one record per epoch; history.csv is the same as a table
  checkpoint/      the last completed epoch: epoch-N.params, epoch-N.states (trainer), state.json
  best.params      the epoch with the lowest validation loss so far
  stage1/, stage2/ a two-stage run's stages, each a run folder of its own (OUT holds the merged history)
  model.params     the final model (the best epoch's with --patience)
  .lock            while a run is writing here: which process (a second run into OUT refuses)

``checkpoint/state.json`` is written last and names the files of its epoch, so a crash at any moment
leaves either the previous complete checkpoint or the new one, never a mix.
"""
import contextlib
import csv
import io
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid

from .._io import atomic_save, atomic_write_bytes, atomic_write_json, read_json
from .._version import __version__
from ..errors import HotdogError

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
LOCK_FILE = ".lock"  # while a run writes to OUT: its pid and host
STATE_FILE = "state.json"
HISTORY_FIELDS = ("epoch", "stage", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                  "train_images",
                  "seconds", "train_images_per_sec")


def write_history(out_dir, history):
    atomic_write_json(os.path.join(out_dir, "history.json"), history)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_bytes(os.path.join(out_dir, "history.csv"), buffer.getvalue().encode("utf-8"))


def save_checkpoint(out_dir, epoch, net, trainer, state):
    """Save epoch ``epoch`` (1-based): params, trainer state, then ``state.json`` as the commit point."""
    folder = os.path.join(out_dir, CHECKPOINT_DIR)
    os.makedirs(folder, exist_ok=True)
    params, states = "epoch-{}.params".format(epoch), "epoch-{}.states".format(epoch)
    atomic_save(net.save_parameters, os.path.join(folder, params))
    atomic_save(trainer.save_states, os.path.join(folder, states))
    atomic_write_json(os.path.join(folder, STATE_FILE), dict(state, epoch=epoch, params=params, states=states))
    for name in os.listdir(folder):  # older epochs are no longer referenced
        if name.startswith("epoch-") and name not in (params, states):
            os.remove(os.path.join(folder, name))


def load_checkpoint_state(out_dir):
    """The last committed state (with ``params``/``states`` as full paths), or None if there is none."""
    folder = os.path.join(out_dir, CHECKPOINT_DIR)
    path = os.path.join(folder, STATE_FILE)
    if not os.path.exists(path):
        return None
    state = read_json(path, "checkpoint state")
    for key in ("params", "states"):
        state[key] = os.path.join(folder, state[key])
        if not os.path.exists(state[key]):
            raise HotdogError("checkpoint in {} is incomplete: {} is missing".format(folder, state[key]))
    return state


def has_checkpoint(out_dir):
    """Whether ``out_dir`` holds a committed checkpoint (its own, or a staged run's first stage)."""
    return any(os.path.exists(os.path.join(out_dir, sub, CHECKPOINT_DIR, STATE_FILE)) for sub in ("", "stage1"))


def drop_resume_files(out_dir):
    """Remove from a finished run what only resuming or --patience needed (checkpoint/, best.params); the
    final model.params, config.json and history stay. Returns the bytes freed. Refuses if model.params is
    missing: then the checkpoint is all there is."""
    if not os.path.exists(os.path.join(out_dir, "model.params")):
        raise HotdogError("{} has no model.params: its checkpoint is kept to resume from".format(out_dir))
    freed = 0
    for path in (os.path.join(out_dir, CHECKPOINT_DIR), os.path.join(out_dir, "best.params")):
        if os.path.isdir(path):
            freed += sum(os.path.getsize(os.path.join(parent, name)) for parent, _, names in os.walk(path)
                         for name in names)
            shutil.rmtree(path)
        elif os.path.exists(path):
            freed += os.path.getsize(path)
            os.remove(path)
    return freed


def write_model_config(out_dir, config, saved_strategy, best=None, classes=None, split=None):
    """config.json: what `predict` and `evaluate` need to rebuild the net without the command line.

    ``saved_strategy``: the strategy whose net rebuilds the saved weights (``Strategy.saved_name``);
    ``split``: how the images were split (``pipeline.load_splits``' info: counts, validation files).
    """
    atomic_write_json(os.path.join(out_dir, "config.json"), {
        "hotdog_version": __version__, "model": config.model, "strategy": saved_strategy,
        "classes": list(classes), "image_size": config.image_size, "data_dir": config.data_dir,
        "train": config.to_dict(), "best": best, "split": split,
    })


def save_params(block, path):
    """``block.save_parameters(path)``, atomically."""
    return atomic_save(block.save_parameters, path)


class RunFolderBusy(HotdogError):
    """Another live run is writing to the same output folder: ``owner`` (its pid, host and start) holds
    ``lock_path``."""

    def __init__(self, message, lock_path=None, owner=None):
        super().__init__(message)
        self.lock_path, self.owner = lock_path, owner or {}


# The tokens of the locks this process holds right now. A lock that names this process's pid but holds none
# of them was left by an earlier process that had the same pid (a restarted container is pid 1 again, under
# the same host name): it is stale, not ours. A token, not the path: one folder has many names (symlinks).
_HELD = set()


@contextlib.contextmanager
def run_lock(out_dir):
    """Hold ``OUT/.lock`` while a run writes to ``out_dir``: a second run into the same folder refuses.

    The lock names its process; one left by a process that is no longer running (a crash, a kill -9) on
    this machine is taken over with a message. A lock from another machine (shared storage) cannot be
    checked from here, so it is respected.
    """
    path = os.path.join(out_dir, LOCK_FILE)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
          "token": uuid.uuid4().hex}
    while not _create_complete(path, me):
        owner = _lock_owner(path)
        if owner is not None and _is_running(owner):
            raise RunFolderBusy("{} is in use by another run (pid {} on {}, started {}). Wait for it to finish, "
                                "or choose another --out; if you are sure no run is using it, delete {}.".format(
                                    out_dir, owner.get("pid"), owner.get("host"), owner.get("started"), path),
                                lock_path=path, owner=owner)
        log.warning("%s was locked by a run that is no longer running (%s); taking it over", out_dir,
                    "pid {}".format(owner["pid"]) if owner else "unreadable lock")
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    _HELD.add(me["token"])
    try:
        yield
    finally:
        _HELD.discard(me["token"])
        if (_lock_owner(path) or {}).get("token") == me["token"]:
            os.remove(path)


def _create_complete(path, content):
    """Create ``path`` holding ``content`` (JSON) unless it exists; True if we did. The file appears whole
    (written aside, then linked into place), so that another run never reads a lock still being written
    (an empty one would look unreadable, hence stale)."""
    fd, aside = tempfile.mkstemp(prefix=LOCK_FILE + "-", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(content, f)
        try:
            os.link(aside, path)  # fails if path exists: the atomic test-and-create
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: create-if-absent, then write
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                json.dump(content, f)
        return True
    finally:
        os.remove(aside)


def _lock_owner(path):
    try:
        with open(path) as f:
            owner = json.load(f)
        return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _is_running(owner):
    if owner.get("host") != socket.gethostname():
        return True  # cannot tell: respect it
    if owner["pid"] == os.getpid():
        return owner.get("token") in _HELD
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
