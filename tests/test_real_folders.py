"""Real photo folders through the commands: every bad file found at once and named, --skip-bad-images,
predict over folders and globs, EXIF-rotated photos upright, no traceback for hostile input, run folders
that stay safe (a lock, a full disk, a damaged cache)."""
import errno
import json
import os
import shutil
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from PIL import Image
from test_check import encode, exif_rotated, make_messy_folder, photo, write  # noqa: F401 (photo: a fixture)

from hotdog import cli
from hotdog.data.cache import cache_folders, cached_split
from hotdog.data.pipeline import load_datasets
from hotdog.errors import HotdogError
from hotdog.train import run_dir
from hotdog.train.config import TrainConfig
from hotdog.train.loop import train
from hotdog.train.run_dir import LOCK_FILE, load_checkpoint_state

BAD = ("train/hotdog/truncated.png", "train/hotdog/empty.png", "train/hotdog/text.png")
TRAIN = ["--image-size", "32", "--epochs", "1", "--batch-size", "4", "--strategy", "scratch", "-q"]


@pytest.fixture(scope="module")
def messy(tmp_path_factory, photo):  # noqa: F811
    root = str(tmp_path_factory.mktemp("messy") / "photos")
    make_messy_folder(root, photo)
    return root


@pytest.fixture(scope="module")
def trained_on_messy(messy, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "out")
    assert cli.main(["train", "--data-dir", messy, "--out", out, "--skip-bad-images"] + TRAIN) == 0
    return out


def no_traceback(captured):
    assert "Traceback" not in captured.out and "Traceback" not in captured.err, captured


def test_train_refuses_with_the_whole_list(messy, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert cli.main(["train", "--data-dir", messy, "--out", out] + TRAIN) == 1
    captured = capsys.readouterr()
    no_traceback(captured)
    for name in BAD:
        assert name in captured.err, captured.err
    assert "--skip-bad-images" in captured.err and "the same image in two splits" in captured.err
    assert not os.path.exists(os.path.join(out, "model.params"))


def test_skip_bad_images_trains_and_writes_the_list(trained_on_messy, messy):
    with open(os.path.join(trained_on_messy, "skipped-images.txt")) as f:
        skipped = sorted(os.path.relpath(line.strip(), messy).replace(os.sep, "/") for line in f)
    assert skipped == sorted(BAD)
    history = json.load(open(os.path.join(trained_on_messy, "history.json")))
    # 16 image files in train/hotdog (the one in a subfolder is not read), 4 in train/not-hotdog, less the
    # bad ones: what is left is split between training and validation.
    split = json.load(open(os.path.join(trained_on_messy, "config.json")))["split"]
    assert sum(split["counts"]["train"].values()) + sum(split["counts"]["val"].values()) == 16 + 4 - len(BAD)
    assert history[0]["train_images"] == sum(split["counts"]["train"].values())


def test_predict_answers_every_readable_photo_of_a_folder(trained_on_messy, messy, capsys):
    assert cli.main(["predict", os.path.join(messy, "train"), "--model-dir", trained_on_messy]) == 1
    captured = capsys.readouterr()
    no_traceback(captured)
    answered = [line.split("\t")[0] for line in captured.out.splitlines()]
    # Folders are searched recursively: 16 + 1 (in a subfolder) + 4 image files, 3 of them unreadable.
    assert len(answered) == len(set(answered)) == 21 - len(BAD)
    for name in BAD:
        assert os.path.join(messy, *name.split("/")) in captured.err
    assert "truncated" in captured.err and "3 of 21 file(s)" in captured.err
    # A glob pattern, and a folder with nothing wrong: exit status 0.
    pattern = os.path.join(messy, "test", "*", "*.jpg")
    assert cli.main(["predict", pattern, "--model-dir", trained_on_messy]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_an_exif_rotated_photo_reaches_the_net_upright(tmp_path, photo):  # noqa: F811
    # The same photo, saved upright in test/a and lying on its side with an EXIF orientation in test/b.
    root = str(tmp_path / "d")
    for split in ("train", "test"):
        write(os.path.join(root, split, "a", "upright.png"), encode(photo))
        write(os.path.join(root, split, "b", "sideways.png"), exif_rotated(photo, 6))
    for cache in (False, True):
        _, test = load_datasets(root, image_size=32, cache=cache, quiet=True)
        (upright, _), (sideways, _) = test[0], test[1]
        np.testing.assert_array_equal(upright.asnumpy(), sideways.asnumpy())


def test_check_command(messy, tmp_path, capsys):
    assert cli.main(["check", "--data-dir", messy]) == 1
    captured = capsys.readouterr()
    no_traceback(captured)
    assert all(name in captured.out for name in BAD) and "NOT OK" in captured.out
    assert cli.main(["check", "--data-dir", messy, "--json", "-"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert sorted(item["path"] for item in report["unreadable"]) == sorted(BAD) and report["ok"] is False
    clean = str(tmp_path / "clean")
    shutil.copytree(messy, clean)
    for name in BAD:
        os.remove(os.path.join(clean, *name.split("/")))
    assert cli.main(["check", "--data-dir", clean]) == 0
    assert "OK: training can use this folder" in capsys.readouterr().out


def test_hostile_input_gives_one_clear_line_and_no_traceback(messy, trained_on_messy, tmp_path, capsys):
    truncated_params = tmp_path / "bad-model"
    shutil.copytree(trained_on_messy, str(truncated_params))
    data = open(os.path.join(trained_on_messy, "model.params"), "rb").read()
    (truncated_params / "model.params").write_bytes(data[:len(data) // 2])
    corrupt_zip = tmp_path / "hotdog.zip"
    corrupt_zip.write_bytes(b"PK\x03\x04 not really a zip")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cases = [
        (["train", "--data-dir", messy, "--out", str(tmp_path / "t")] + TRAIN, "truncated.png"),
        (["compare", "--data-dir", messy, "--out", str(tmp_path / "c"), "--epochs", "1", "--image-size", "32"],
         "truncated.png"),
        (["evaluate", "--model-dir", trained_on_messy, "--data-dir", messy], "truncated.png"),
        (["show", "--data-dir", messy, "--out", str(tmp_path / "s.png")], "truncated.png"),
        (["bench", "--data-dir", messy, "--sizes", "32", "--seconds", "0.1"], "truncated.png"),
        (["evaluate", "--model-dir", str(tmp_path / "nowhere")], "nowhere"),
        (["predict", os.path.join(messy, "test"), "--model-dir", str(truncated_params)], "truncated"),
        (["download", "--zip", str(corrupt_zip), "--sha1", "0" * 40, "--data-dir", str(tmp_path / "dl")],
         "checksum mismatch"),
        (["zeroshot", "--pretrained-params", str(truncated_params / "model.params"), "--data-dir", messy],
         "model.params"),
        (["train", "--data-dir", str(tmp_path / "no-data"), "--out", str(tmp_path / "t2")] + TRAIN, "no dataset"),
        (["train", "--data-dir", messy, "--skip-bad-images", "--out", str(a_file / "out")] + TRAIN, "a-file"),
        (["check", "--data-dir", str(a_file)], "a-file"),
    ]
    for argv, culprit in cases:
        code = cli.main(argv)
        captured = capsys.readouterr()
        assert code == 1, (argv, captured)
        no_traceback(captured)
        assert culprit in captured.err, (argv, captured.err)


def test_a_second_run_into_a_busy_folder_refuses_and_a_stale_lock_is_taken_over(tiny_data, tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    config = TrainConfig(strategy="scratch", data_dir=tiny_data, epochs=1, batch_size=8, image_size=32)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_FILE).write_text(json.dumps({"pid": live.pid, "host": run_dir.socket.gethostname(),
                                                 "started": "earlier"}))
        with pytest.raises(run_dir.RunFolderBusy, match="in use by another run \\(pid {}".format(live.pid)):
            train(config, str(out), [mx.cpu()], quiet=True)
    finally:
        live.kill()
        live.wait()
    # The same lock, now from a process that is gone: taken over, and released after the run.
    train(config, str(out), [mx.cpu()], quiet=True)
    assert "no longer running" in caplog.text and not (out / LOCK_FILE).exists()
    # A lock naming this very process, which does not hold it: left by an earlier process with the same pid
    # (a restarted container), so stale too; waiting for it would wait for ourselves.
    caplog.clear()
    (out / LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "host": run_dir.socket.gethostname(),
                                             "started": "before a restart"}))
    train(config, str(out), [mx.cpu()], quiet=True, resume=True)
    assert "no longer running" in caplog.text and not (out / LOCK_FILE).exists()


def test_a_held_lock_is_held_under_any_name_of_its_folder(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with run_dir.run_lock(str(real)):
        for other_name in (str(tmp_path / "link"), str(real) + "/", os.path.relpath(str(real))):
            with pytest.raises(run_dir.RunFolderBusy):
                with run_dir.run_lock(other_name):
                    pass
        assert (real / LOCK_FILE).exists()  # still ours, still there
    assert not (real / LOCK_FILE).exists() and os.listdir(str(real)) == []  # nothing left behind


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_resume_works(tiny_data, tmp_path, monkeypatch):
    out = str(tmp_path / "out")
    config = TrainConfig(strategy="scratch", data_dir=tiny_data, epochs=1, batch_size=8, image_size=32, lr=0.01)
    train(config, out, [mx.cpu()], quiet=True)
    real_save = run_dir.atomic_save

    def disk_full_on_states(save_fn, path):
        if path.endswith(".states"):
            with open(path + ".partial", "wb") as f:  # what a write cut short leaves behind, at most
                f.write(b"\0" * 10)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(save_fn, path)

    monkeypatch.setattr(run_dir, "atomic_save", disk_full_on_states)
    with pytest.raises(HotdogError, match="could not write the checkpoint of epoch 2 \\(No space left on device\\)"
                                          ".*checkpoint \\(epoch 1\\)"):
        train(TrainConfig(**dict(config.to_dict(), epochs=2)), out, [mx.cpu()], quiet=True, resume=True)
    state = load_checkpoint_state(out)
    assert state["epoch"] == 1 and os.path.exists(state["params"]) and os.path.exists(state["states"])
    monkeypatch.setattr(run_dir, "atomic_save", real_save)
    result = train(TrainConfig(**dict(config.to_dict(), epochs=2)), out, [mx.cpu()], quiet=True, resume=True)
    assert [h["epoch"] for h in result["history"]] == [1, 2]


def fresh_copy(data_dir, tmp_path):
    """A copy of the images without the caches other tests left in the shared folder."""
    copy = str(tmp_path / "d")
    shutil.copytree(data_dir, copy, ignore=shutil.ignore_patterns(".cache"))
    return copy


@pytest.mark.parametrize("damage", ["truncate pixels", "garble index"])
def test_a_damaged_cache_is_rebuilt_with_a_warning(tiny_data, tmp_path, damage, caplog):
    data = fresh_copy(tiny_data, tmp_path)
    dataset, hit = cached_split(data, "train", 32, quiet=True)
    assert not hit
    expected = [dataset[i][0] for i in range(len(dataset))]
    folder = cache_folders(os.path.join(data, "hotdog"))[0]["path"]
    if damage == "truncate pixels":
        path = os.path.join(folder, "pixels.npy")
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    else:
        with open(os.path.join(folder, "index.json"), "w") as f:
            f.write('{"synsets": ["hotdog"')
    rebuilt, hit = cached_split(data, "train", 32, quiet=True)
    assert not hit and "damaged" in caplog.text
    for i, image in enumerate(expected):
        np.testing.assert_array_equal(rebuilt[i][0], image)


def test_stale_caches_are_pruned(tiny_data, tmp_path, capsys):
    data = fresh_copy(tiny_data, tmp_path)
    root = os.path.join(data, "hotdog")
    cached_split(data, "test", 32, quiet=True)
    # The data changes: the next build replaces the old cache of the same split and size.
    Image.new("RGB", (60, 50), (10, 200, 30)).save(os.path.join(root, "test", "hotdog", "1000.png"))
    cached_split(data, "test", 32, quiet=True)
    assert len(cache_folders(root)) == 1
    # A cache of another size, then its data changes: only `check --prune-cache` knows it is stale.
    cached_split(data, "test", 48, quiet=True)
    Image.new("RGB", (60, 50), (200, 10, 30)).save(os.path.join(root, "test", "hotdog", "1001.png"))
    assert len(cache_folders(root)) == 2
    assert cli.main(["check", "--data-dir", data, "--prune-cache"]) == 0
    assert "removed 2 stale folder(s)" in capsys.readouterr().out and cache_folders(root) == []
