"""A run folder made servable with `hotdog export`, and used again through `hotdog predict`."""
import json
import os

import mxnet as mx
import pytest

from hotdog import cli
from hotdog.evaluate.inference import predict_images


@pytest.fixture(scope="module")
def run_dir(tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "out")
    assert cli.main(["train", "--strategy", "scratch", "--data-dir", tiny_data, "--image-size", "32", "--epochs",
                     "1", "--batch-size", "8", "--out", out, "-q"]) == 0
    return out


def probabilities(results):
    return {r["path"]: (r["label"], r["probability"]) for r in results}


@pytest.mark.parametrize("fmt", ["mxnet", "onnx"])
def test_an_export_answers_like_the_run(run_dir, tiny_data, tmp_path, fmt, capsys):
    out = str(tmp_path / fmt)
    assert cli.main(["export", "--model-dir", run_dir, "--out", out, "--format", fmt]) == 0
    info = json.load(open(os.path.join(out, "export.json")))
    assert info["format"] == fmt and info["strategy"] == "scratch" and info["source_run"] == os.path.abspath(run_dir)
    test_dir = os.path.join(tiny_data, "hotdog", "test")
    from_run = probabilities(predict_images([test_dir], run_dir, [mx.cpu()]))
    from_export = probabilities(predict_images([test_dir], out, [mx.cpu()]))
    assert from_run.keys() == from_export.keys() and len(from_run) == 8
    for path, (label, probability) in from_run.items():
        assert from_export[path][0] == label
        assert from_export[path][1] == pytest.approx(probability, abs=1e-5)
    capsys.readouterr()
    assert cli.main(["predict", test_dir, "--model-dir", out]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 8


def test_int8_export_reports_accuracy_and_speed_before_and_after(run_dir, tmp_path, capsys):
    out = str(tmp_path / "int8")
    assert cli.main(["export", "--model-dir", run_dir, "--out", out, "--int8", "--calibration-images", "8"]) == 0
    printed = capsys.readouterr().out
    assert "int8 vs float32 on 8 test images: accuracy" in printed and "images/s" in printed
    check = json.load(open(os.path.join(out, "export.json")))["int8_check"]
    assert check["calibration_images"] == 8 and 0 <= check["int8_test_acc"] <= 1 and check["int8_images_per_sec"] > 0


def test_bad_exports_are_one_line_and_leave_nothing(run_dir, tmp_path, capsys):
    no_params = tmp_path / "no-params"
    no_params.mkdir()
    for name in ("config.json", "history.json"):
        (no_params / name).write_bytes(open(os.path.join(run_dir, name), "rb").read())
    old_config = tmp_path / "old"
    old_config.mkdir()
    (old_config / "config.json").write_text(json.dumps({"hotdog_version": "0.0.1", "net": "something"}))
    half_export = tmp_path / "half"
    assert cli.main(["export", "--model-dir", run_dir, "--out", str(half_export)]) == 0
    os.remove(str(half_export / "labels.json"))
    cases = [
        (["export", "--model-dir", str(no_params), "--out", str(tmp_path / "a")], "model.params does not exist", "a"),
        (["export", "--model-dir", str(old_config), "--out", str(tmp_path / "b")], "lacks model, strategy", "b"),
        (["export", "--model-dir", run_dir, "--out", str(tmp_path / "c"), "--format", "onnx", "--int8"],
         "--int8 works with the mxnet format only", "c"),
        (["predict", str(tmp_path), "--model-dir", str(half_export)], "labels.json is missing", None),
    ]
    capsys.readouterr()
    for argv, message, out in cases:
        assert cli.main(argv) == 1, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
        if out:
            assert not os.path.exists(str(tmp_path / out)) and not [n for n in os.listdir(str(tmp_path))
                                                                    if n.startswith(".building")]


def test_predict_explains_with_grad_cam_overlays(run_dir, tiny_data, tmp_path, capsys):
    from PIL import Image
    explain = str(tmp_path / "why")
    test_dir = os.path.join(tiny_data, "hotdog", "test")
    assert cli.main(["predict", test_dir, "--model-dir", run_dir, "--explain", explain]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 8 and all(len(parts) == 4 for parts in lines)
    written = sorted(os.listdir(explain))
    assert written == sorted(os.path.basename(parts[3]) for parts in lines) and len(written) == 8
    with Image.open(os.path.join(explain, written[0])) as overlay:
        assert overlay.size == (32, 32) and overlay.mode == "RGB"  # drawn on the crop the net saw
    # The same answers as without --explain.
    assert cli.main(["predict", test_dir, "--model-dir", run_dir]) == 0
    assert [line.split("\t")[:3] for line in capsys.readouterr().out.splitlines()] == [p[:3] for p in lines]


def test_attention_grid_shows_every_strategy_that_worked(run_dir, tiny_data, tmp_path):
    from hotdog.experiments.attention import pick_images, save_attention_grid
    results = {"strategies": [{"name": "scratch", "status": "ok", "out_dir": "a"},
                              {"name": "broken", "status": "failed", "out_dir": "b"}]}
    os.symlink(run_dir, str(tmp_path / "a"))
    path = save_attention_grid(results, str(tmp_path), tiny_data, [mx.cpu()], n=4)
    assert path == str(tmp_path / "attention.png") and os.path.getsize(path) > 0
    chosen = pick_images(tiny_data, ["hotdog", "not-hotdog"], n=4)
    assert [label for _, label in chosen] == [0, 1, 0, 1]  # even across the classes, the same every time


def test_interpret_writes_the_confusion_the_top_losses_and_the_suspects(run_dir, tiny_data, tmp_path, capsys):
    out = str(tmp_path / "why")
    assert cli.main(["interpret", "--model-dir", run_dir, "--out", out, "--top", "4",
                     "--suspect-threshold", "0.5"]) == 0
    assert sorted(os.listdir(out)) == ["confusion.png", "interpret.json", "suspect_labels.csv", "top_losses.png"]
    result = json.load(open(os.path.join(out, "interpret.json")))
    assert sum(map(sum, result["confusion"])) == result["images"] == 8
    losses = [item["loss"] for item in result["top_losses"]]
    assert len(losses) == 4 and losses == sorted(losses, reverse=True) and min(losses) >= 0
    wrong = sum(result["confusion"][t][p] for t in range(2) for p in range(2) if t != p)
    assert sum(count for _, _, count in result["most_confused"]) == wrong
    with open(os.path.join(out, "suspect_labels.csv")) as f:
        rows = f.read().splitlines()
    assert rows[0] == "path,label,predicted,probability" and len(rows) - 1 == len(result["suspects"])
    for suspect in result["suspects"]:  # training images only, called another class, confidently
        assert "{0}train{0}".format(os.sep) in suspect["path"] and suspect["label"] != suspect["predicted"]
        assert suspect["probability"] >= 0.5
    assert "written to " + out in capsys.readouterr().out


def test_interpret_refuses_a_broken_folder_and_writes_nothing(run_dir, tiny_data, tmp_path, capsys):
    import shutil
    data = str(tmp_path / "d")
    shutil.copytree(tiny_data, data, ignore=shutil.ignore_patterns(".cache"))
    with open(os.path.join(data, "hotdog", "test", "hotdog", "1000.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n half a file")
    out = str(tmp_path / "why")
    assert cli.main(["interpret", "--model-dir", run_dir, "--data-dir", data, "--out", out]) == 1
    err = capsys.readouterr().err
    assert "1000.png" in err and "Traceback" not in err and not os.path.exists(out)


def test_predict_keeps_each_answer_with_its_file_while_batches_overlap(run_dir, tiny_data, tmp_path):
    # The net classifies one batch while the next files are decoded: answers must still land on their own
    # files, in order, with an unreadable file between them, whatever the batch size.
    test_dir = os.path.join(tiny_data, "hotdog", "test")
    files = sorted(os.path.join(test_dir, cls, name) for cls in os.listdir(test_dir)
                   for name in os.listdir(os.path.join(test_dir, cls)))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n half a file")
    paths = files[:3] + [str(bad)] + files[3:]
    alone = [probabilities(predict_images([path], run_dir, [mx.cpu()])) for path in files]
    for batch_size in (1, 2, 5):
        results = predict_images(paths, run_dir, [mx.cpu()], batch_size=batch_size)
        assert [r["path"] for r in results] == paths
        assert results[3]["path"] == str(bad) and "error" in results[3] and "label" not in results[3]
        answered = [r for r in results if "error" not in r]
        assert len(answered) == len(files) == len(alone)
        for result, expected in zip(answered, alone):
            (path, (label, probability)), = expected.items()
            assert result["path"] == path and result["label"] == label and result["probability"] == pytest.approx(probability, abs=1e-5)


def test_predict_in_batches_with_tta_and_in_csv_or_json(run_dir, tiny_data, tmp_path, capsys):
    from PIL import Image
    test_dir = os.path.join(tiny_data, "hotdog", "test")
    one = probabilities(predict_images([test_dir], run_dir, [mx.cpu()], batch_size=1))
    batched = probabilities(predict_images([test_dir], run_dir, [mx.cpu()], batch_size=3))  # 3 + 3 + 2
    assert one.keys() == batched.keys()
    for path, (label, probability) in one.items():
        assert batched[path][0] == label and batched[path][1] == pytest.approx(probability, abs=1e-5)
    # TTA averages the image and its mirror: a left-right symmetric image gets the same answer, and a
    # photo and its mirror get the same (averaged) answer.
    photo = Image.open(os.path.join(test_dir, "hotdog", "1000.png")).convert("RGB")
    photo.save(str(tmp_path / "a.png"))
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(str(tmp_path / "b.png"))
    both = {os.path.basename(r["path"]): r["probabilities"] for r in
            predict_images([str(tmp_path / "*.png")], run_dir, [mx.cpu()], tta=True)}
    for cls in both["a.png"]:
        assert both["a.png"][cls] == pytest.approx(both["b.png"][cls], abs=1e-5)
    capsys.readouterr()
    assert cli.main(["predict", test_dir, "--model-dir", run_dir, "--format", "json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert len(answers) == 8 and set(answers[0]["probabilities"]) == {"hotdog", "not-hotdog"}
    assert cli.main(["predict", test_dir, "--model-dir", run_dir, "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "path,label,probability,p_hotdog,p_not-hotdog" and len(rows) == 9
    assert cli.main(["predict", test_dir, "--model-dir", run_dir, "--batch-size", "0"]) == 1
    assert "--batch-size must be at least 1" in capsys.readouterr().err
