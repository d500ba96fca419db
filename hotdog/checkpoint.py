"""What a training run leaves on disk, written atomically (temp file, then rename).

OUT/
  config.json      everything needed to rebuild the net (model, strategy, classes, image size...)
  history.json     one record per epoch; history.csv is the same as a table
  checkpoint/      the last completed epoch: epoch-N.params, epoch-N.states (trainer), state.json
  best.params      the epoch with the lowest test loss so far
  model.params     the final model (the best epoch's with --patience)

``checkpoint/state.json`` is written last and names the files of its epoch, so a crash at any moment
leaves either the previous complete checkpoint or the new one, never a mix.
"""
import csv
import io
import json
import os

from .errors import HotdogError

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
HISTORY_FIELDS = ("epoch", "stage", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "train_images",
                  "seconds", "train_images_per_sec")


def atomic_write_bytes(path, data):
    tmp = "{}.tmp-{}".format(path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def atomic_save(save_fn, path):
    """Call ``save_fn(tmp_path)`` (e.g. ``net.save_parameters``), then rename to ``path``."""
    tmp = "{}.tmp-{}{}".format(os.path.splitext(path)[0], os.getpid(), os.path.splitext(path)[1])
    try:
        save_fn(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json(path, what="file"):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise HotdogError("{} not found: {}".format(what, path)) from None
    except ValueError as exc:
        raise HotdogError("{} {} is not valid JSON ({})".format(what, path, exc)) from None


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
