"""compare, two-stage training and the offline demo, at tiny sizes."""
import json
import os
import re
from dataclasses import replace

import mxnet as mx
import pytest
from PIL import Image

from hotdog import cli
from hotdog.cli.options import parse_lr_overrides
from hotdog.errors import ConfigError, HotdogError
from hotdog.experiments.compare import SCHEMA, _run_summary, compare
from hotdog.experiments.demo import SMOKE_SETTINGS, DemoSettings, run_demo
from hotdog.models.zoo import pretrained_net
from hotdog.train.config import TrainConfig
from hotdog.train.recipes import run_strategy

RESULT_KEYS = {"name", "status", "error", "lr", "out_dir", "final_test_acc", "final_test_ci", "test_images",
               "best_val_epoch", "best_val_loss", "test_acc_at_best_val", "per_class_recall", "confusion", "vs_first", "seeds",
               "mean_test_acc", "sd_test_acc", "final_train_loss", "total_seconds", "train_images_per_sec",
               "stage2_epoch", "history"}


@pytest.fixture(scope="module")
def pretrained(pretrained_params):
    return pretrained_net(params_file=pretrained_params[0])


def base_config(data_dir, **overrides):
    values = dict(strategy="finetune", data_dir=data_dir, epochs=1, batch_size=8, image_size=32)
    values.update(overrides)
    return TrainConfig(**values)


def assert_png(path):
    with Image.open(path) as im:
        im.verify()
        assert im.format == "PNG"


def test_compare_writes_results_table_and_plots(tiny_data, pretrained, tmp_path, hotdog_log):
    out = str(tmp_path)
    results = compare(["finetune", "scratch"], base_config(tiny_data), out, [mx.cpu()], pretrained=pretrained)
    with open(os.path.join(out, "results.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(results))
    assert saved["schema"] == SCHEMA and saved["synthetic"] is False and saved["devices"] == ["cpu(0)"]
    assert saved["settings"]["epochs"] == 1 and "lr" not in saved["settings"]
    names = [row["name"] for row in saved["strategies"]]
    assert names == ["finetune", "scratch"]
    for row in saved["strategies"]:
        assert set(row) == RESULT_KEYS and row["status"] == "ok"
        assert 0 <= row["final_test_acc"] <= 1 and len(row["history"]) == 1
        assert os.path.exists(os.path.join(out, row["out_dir"], "model.params"))
    assert [row["lr"] for row in saved["strategies"]] == [0.01, 0.1]  # the chapter's learning rates
    markdown = (tmp_path / "results.md").read_text()
    assert "| strategy | test acc | 95% interval |" in markdown and "| finetune |" in markdown and "| scratch |" in markdown
    report = (tmp_path / "report.html").read_text()
    assert "finetune" in report and "scratch" in report and "95% interval" in report
    assert report.count('src="data:image/png;base64,') == 3  # curves, attention, samples: one self-contained file
    assert not re.search(r'(?:src|href)="(?!data:)', report)  # nothing to fetch
    for png in ("curves.png", "samples.png", "attention.png"):
        assert_png(os.path.join(out, png))
    assert "95% interval" in hotdog_log.text and "exact McNemar" in hotdog_log.text


def test_a_failing_strategy_is_reported_and_the_others_survive(tiny_data, pretrained, tmp_path):
    # Batches of 4: enough updates at lr 1e12 for the weights to blow up within the epoch.
    results = compare(["scratch", "finetune"], base_config(tiny_data, batch_size=4), str(tmp_path), [mx.cpu()],
                      pretrained=pretrained, lr_overrides={"scratch": 1e12}, quiet=True)
    scratch, finetune = results["strategies"]
    assert scratch["status"] == "failed" and "diverged" in scratch["error"]
    assert finetune["status"] == "ok" and finetune["history"]
    assert os.path.exists(tmp_path / "scratch" / "error.log")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["status"] for r in saved["strategies"]] == ["failed", "ok"]
    assert "failed: training diverged" in (tmp_path / "results.md").read_text()
    assert_png(str(tmp_path / "curves.png"))


def test_a_strategy_that_needs_weights_fails_alone(tiny_data, tmp_path):
    results = compare(["finetune", "scratch"], base_config(tiny_data), str(tmp_path), [mx.cpu()], quiet=True)
    assert [r["status"] for r in results["strategies"]] == ["failed", "ok"]
    assert "needs the pretrained net" in results["strategies"][0]["error"]


def test_typos_fail_before_any_training(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="strategy must be one of .*got 'fintune'"):
        compare(["finetune", "fintune"], base_config(tiny_data), str(tmp_path), [mx.cpu()])
    with pytest.raises(ConfigError, match="not being compared"):
        compare(["finetune"], base_config(tiny_data), str(tmp_path), [mx.cpu()], lr_overrides={"scratch": 0.1})
    assert not os.path.exists(tmp_path / "finetune")


def test_parse_lr_overrides():
    assert parse_lr_overrides("finetune=0.02, scratch=0.2") == {"finetune": 0.02, "scratch": 0.2}
    assert parse_lr_overrides("partial:2=0.05") == {"partial:2": 0.05}
    for bad in ("finetune", "finetune=fast"):
        with pytest.raises(HotdogError, match="STRATEGY=LR"):
            parse_lr_overrides(bad)


def test_two_stage_keeps_one_history_and_lowers_the_lr(tiny_data, pretrained, tmp_path):
    config = base_config(tiny_data, strategy="two-stage", epochs=3, lr=0.02)
    result = run_strategy(config, str(tmp_path), [mx.cpu()], pretrained=pretrained, quiet=True)
    history = result["history"]
    assert [(h["epoch"], h["stage"]) for h in history] == [(1, 1), (2, 2), (3, 2)]
    assert history[0]["lr"] == pytest.approx(0.02) and history[1]["lr"] == pytest.approx(0.002)
    assert result["stage2_epoch"] == 2
    assert len(json.loads((tmp_path / "history.json").read_text())) == 3
    saved_config = json.loads((tmp_path / "config.json").read_text())
    assert saved_config["strategy"] == "finetune"  # what the final net is
    # compare's throughput: all training images over all training time (evaluation excluded).
    row = _run_summary(0, config, result, 1.0, "two-stage")
    train_seconds = sum(h["train_images"] / h["train_images_per_sec"] for h in history)
    assert row["train_images_per_sec"] == pytest.approx(3 * 14 / train_seconds)  # 16 images, 2 for validation
    assert train_seconds < sum(h["seconds"] for h in history)
    # The final model is usable like any other.
    assert cli.main(["evaluate", "--model-dir", str(tmp_path)]) == 0


def test_two_stage_partial_unfreezes_only_k_stages(tiny_data, pretrained, tmp_path):
    config = base_config(tiny_data, strategy="two-stage:1", epochs=2)
    run_strategy(config, str(tmp_path), [mx.cpu()], pretrained=pretrained, quiet=True)
    stage1 = mx.nd.load(str(tmp_path / "stage1" / "model.params"))
    final = mx.nd.load(str(tmp_path / "model.params"))
    moved = {name.split(".")[1] for name in final if name.startswith("features.")
             and not (final[name].asnumpy() == stage1[name].asnumpy()).all()}
    assert moved and moved <= {"8", "9"}  # the last stage (and the BatchNorm after it)
    assert json.loads((tmp_path / "config.json").read_text())["strategy"] == "partial:1"


def test_demo_at_reduced_size_and_its_cache(tmp_path, hotdog_log):
    settings = DemoSettings(**SMOKE_SETTINGS)
    root, out = str(tmp_path / "demo-data"), str(tmp_path / "demo-out")
    results = run_demo(out, [mx.cpu()], settings=settings, root=root)
    first = hotdog_log.text
    hotdog_log.clear()
    assert "OFFLINE DEMO" in first and "synthetic" in first and "pretraining resnet18_v2" in first
    assert results["synthetic"] is True
    assert [r["status"] for r in results["strategies"]] == ["ok", "ok"]
    for name in ("results.json", "results.md", "curves.png", "samples.png"):
        assert os.path.exists(os.path.join(out, name))
    assert "Synthetic run" in open(os.path.join(out, "results.md")).read()
    # Second run: the source-pretrained weights and the data come from the cache.
    run_demo(str(tmp_path / "again"), [mx.cpu()], settings=settings, root=root)
    assert "using the cached source-pretrained" in hotdog_log.text
    # A changed setting is a different cache entry.
    run_demo(str(tmp_path / "other"), [mx.cpu()], settings=replace(settings, pretrain_epochs=2), root=root, quiet=True)
    finished = [n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "model.params"))]
    assert len(finished) == 2 and all(n.startswith("source-resnet18_v2-") for n in finished)
    for name in finished:  # what only resuming needed is gone once the pretraining finished
        assert sorted(os.listdir(os.path.join(root, name))) == ["config.json", "history.csv", "history.json",
                                                                 "model.params"]
    # The pretraining is an ordinary run: its config and history are there to read.
    saved = json.loads(open(os.path.join(root, finished[0], "config.json")).read())
    assert saved["strategy"] == "scratch" and saved["train"]["crop_scale"] == [0.3, 1.0] and len(saved["classes"]) > 2


def test_an_interrupted_source_pretraining_resumes(tmp_path, monkeypatch):
    import hotdog.experiments.demo as demo
    from hotdog.train.hooks import Hook
    from hotdog.train.loop import default_hooks

    class Interrupt(Hook):
        def on_epoch_end(self, run, record):
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C after the first epoch was saved

    def interrupted_train(config, out_dir, contexts, **kwargs):
        return train(config, out_dir, contexts, hooks=default_hooks(config, quiet=True) + [Interrupt()], **kwargs)

    train = demo.train
    settings = DemoSettings(**dict(SMOKE_SETTINGS, pretrain_epochs=2))
    root = str(tmp_path / "root")
    monkeypatch.setattr(demo, "train", interrupted_train)
    with pytest.raises(KeyboardInterrupt):
        demo.pretrain_on_source(settings, [mx.cpu()], root=root, quiet=True)
    run_dir = demo.source_run_dir(settings, root)
    assert not os.path.exists(os.path.join(run_dir, "model.params"))
    first = json.loads(open(os.path.join(run_dir, "history.json")).read())
    assert [h["epoch"] for h in first] == [1]
    monkeypatch.setattr(demo, "train", train)
    net = demo.pretrain_on_source(settings, [mx.cpu()], root=root, quiet=True)
    history = json.loads(open(os.path.join(run_dir, "history.json")).read())
    assert [h["epoch"] for h in history] == [1, 2] and history[0] == first[0]  # epoch 1 kept, not redone
    assert os.path.exists(os.path.join(run_dir, "model.params")) and net is not None


def test_a_second_demo_on_the_same_data_waits_for_the_first_ones_source_pretraining(tmp_path, monkeypatch,
                                                                                      hotdog_log):
    """Two demos on one data folder: the second waits for the first's source pretraining instead of failing,
    takes over if the first stops without finishing, and uses the first's weights if it finishes."""
    import threading
    import time

    import hotdog.experiments.demo as demo
    from hotdog.train.run_dir import LOCK_FILE, run_lock

    monkeypatch.setattr(demo, "WAIT_SECONDS", 0.05)
    trained, train = [], demo.train

    def counted_train(config, out_dir, contexts, **kwargs):
        result = train(config, out_dir, contexts, **kwargs)
        trained.append(out_dir)
        return result

    monkeypatch.setattr(demo, "train", counted_train)
    settings = DemoSettings(**SMOKE_SETTINGS)
    root = str(tmp_path / "root")
    run_dir = demo.source_run_dir(settings, root)
    params = os.path.join(run_dir, "model.params")
    os.makedirs(run_dir)

    def second_demo():
        outcome = {}

        def run():
            try:
                outcome["net"] = demo.pretrain_on_source(settings, [mx.cpu()], root=root, quiet=True)
            except BaseException as e:  # noqa: BLE001 - shown by the assertions below
                outcome["error"] = e
        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 120
        while "waiting for it" not in hotdog_log.text:
            assert thread.is_alive() and time.time() < deadline, outcome
            time.sleep(0.02)
        return thread, outcome

    # 1. The first demo (holding the run folder) stops without finishing: the second trains it.
    with run_lock(run_dir):
        thread, outcome = second_demo()
        time.sleep(0.3)
        assert thread.is_alive() and not trained  # still waiting, not failing
    thread.join(120)
    assert outcome.get("net") is not None, outcome
    assert trained == [run_dir] and os.path.exists(params)

    # 2. The first demo finishes while the second waits: the second loads its weights and trains nothing.
    os.rename(params, params + ".kept")
    hotdog_log.clear()
    with run_lock(run_dir):
        thread, outcome = second_demo()
        os.rename(params + ".kept", params)  # the first demo writes model.params just before it ends
        thread.join(60)
    assert outcome.get("net") is not None, outcome
    assert trained == [run_dir] and "the other demo finished it" in hotdog_log.text

    # 3. A lock from another machine whose run has written nothing for long: given up on, with what to do.
    os.rename(params, params + ".kept")
    lock = os.path.join(run_dir, LOCK_FILE)
    with open(lock, "w") as f:
        json.dump({"pid": 4242, "host": "another-machine", "started": "yesterday"}, f)
    monkeypatch.setattr(demo, "STALLED_SECONDS", 0.5)
    tic = time.time()
    with pytest.raises(HotdogError, match=r"stopped waiting .* wrote nothing there in the \d+ seconds") as info:
        demo.pretrain_on_source(settings, [mx.cpu()], root=root, quiet=True)
    assert lock in str(info.value) and "another-machine" in str(info.value) and trained == [run_dir]
    assert time.time() - tic < 30 and "If it writes nothing for 0 seconds, this demo stops waiting" in hotdog_log.text


def test_cli_demo_with_hotdog_init(tmp_path, capsys):
    out = str(tmp_path / "out")
    code = cli.main(["compare", "--demo", "--demo-size", "tiny", "--strategies", "finetune,hotdog-init,frozen",
                     "--out", out, "--demo-root", str(tmp_path / "root"), "--momentum", "0.5", "-q"])
    assert code == 0
    assert "its numbers mean nothing" in capsys.readouterr().out  # the smoke run says it shows nothing
    saved = json.loads(open(os.path.join(out, "results.json")).read())
    assert [r["status"] for r in saved["strategies"]] == ["ok"] * 3
    assert saved["settings"]["momentum"] == 0.5  # training options reach the demo's comparison


def test_compare_without_data_or_network_points_to_the_demo(free_port, tmp_path, monkeypatch, capsys):
    import hotdog.data.download as download
    monkeypatch.setenv("HOTDOG_DATA_URL", "http://127.0.0.1:{}/hotdog.zip".format(free_port))  # refused
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)  # no backoff waits in the test
    assert cli.main(["compare", "--data-dir", str(tmp_path / "data"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "connection refused" in err and "hotdog compare --demo" in err


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="headless Chromium is not installed "
                    "(apt-get install chromium): the report's browser check did not run")
def test_the_report_renders_in_a_real_browser(tiny_data, pretrained, tmp_path):
    import subprocess

    from PIL import Image
    out = str(tmp_path / "c")
    compare(["finetune", "scratch"], base_config(tiny_data), out, [mx.cpu()], pretrained=pretrained, quiet=True)
    shot = str(tmp_path / "report.png")
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--user-data-dir=" + str(tmp_path / "profile"), "--window-size=1100,1800",
                    "--screenshot=" + shot, "file://" + os.path.join(out, "report.html")],
                   capture_output=True, timeout=120, check=True)
    with Image.open(shot) as image:  # the page drew its pictures: many colours, not a blank or broken page
        assert image.size == (1100, 1800) and len(image.convert("RGB").getcolors(1 << 20) or []) > 1000


def test_the_demo_defaults_in_compare_help_are_the_demos_own():
    from hotdog.cli.train_commands import COMPARE_DEMO_DEFAULTS
    assert COMPARE_DEMO_DEFAULTS == {name: getattr(DemoSettings(), name) for name in COMPARE_DEMO_DEFAULTS}


def test_no_help_says_default_none_and_compare_names_the_chapters_defaults():
    from hotdog.cli.main import build_parser
    from hotdog.cli.train_commands import COMPARE_CHAPTER_DEFAULTS
    commands = build_parser().commands
    for name, command in commands.items():
        assert "default: None" not in command.format_help(), name
    helps = {action.dest: action.help for action in commands["compare"]._actions}
    for name, value in COMPARE_CHAPTER_DEFAULTS.items():  # what applies without --demo, then the demo's
        assert "default: {}".format(value) in helps[name] and "(--demo: " in helps[name], helps[name]


def test_the_demo_sizes_the_command_line_offers_are_the_demos_own():
    from hotdog.cli.options import DEMO_SIZES as offered
    from hotdog.experiments.demo import DEMO_SIZES, demo_settings
    assert offered == DEMO_SIZES
    assert demo_settings("tiny", seed=3) == DemoSettings(**dict(SMOKE_SETTINGS, seed=3))
    assert demo_settings() == DemoSettings()
    with pytest.raises(ValueError, match="standard"):
        demo_settings("huge")
