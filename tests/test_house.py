"""The shape of the package: imports run one way, private MXNet API in one module, a fast `--help`, no
process-wide side effects on import, and a strategy that exists only here working through everything."""
import ast
import glob
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

import hotdog
from hotdog import cli
from hotdog.experiments.compare import compare
from hotdog.models.strategies import STRATEGIES, Strategy
from hotdog.models.zoo import pretrained_net
from hotdog.train.config import TrainConfig
from hotdog.train.loop import train

PACKAGE = os.path.dirname(hotdog.__file__)
ROOT = os.path.dirname(PACKAGE)


def run_python(code, env=None, cwd=None):
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environment,
                          cwd=cwd or ROOT)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="import-linter 2.16 needs Python 3.11+ (test extra)")
def test_imports_run_one_way():
    # In a subprocess: import-linter configures logging with dictConfig, which disables every logger that
    # already exists in the calling process (the package's, in this test session).
    result = run_python("import sys; from importlinter.cli import lint_imports; "
                        "sys.exit(lint_imports(config_filename='setup.cfg'))")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken" in result.stdout


# Private attributes the package may touch outside _mx.py, and why (none of them MXNet's).
ALLOWED_PRIVATE = {("cli/options.py", "_actions"): "argparse lists a parser's options only there"}


def test_private_mxnet_api_is_used_only_in_one_module():
    found = []
    for path in glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True):
        relative = os.path.relpath(path, PACKAGE).replace(os.sep, "/")
        if relative == "_mx.py":
            continue
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls", "_mx"))
                    and (relative, node.attr) not in ALLOWED_PRIVATE):
                found.append("{}:{} .{}".format(relative, node.lineno, node.attr))
    assert not found, "private attributes used outside _mx.py: {}".format(found)


def test_help_and_download_import_no_mxnet(http_server, synthetic_zip, tmp_path):
    zip_path, sha1, body = synthetic_zip
    http_server.files["/hotdog.zip"] = body
    code = """
import contextlib, io, sys
from hotdog.cli import main
for argv in (["--help"], ["download", "--help"], ["train", "--help"], ["compare", "--help"]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
        except SystemExit:
            pass
assert "mxnet" not in sys.modules, "--help imported mxnet"
assert main(["download", "--url", sys.argv[1], "--sha1", sys.argv[2], "--data-dir", sys.argv[3], "-q"]) == 0
print("mxnet" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code, http_server.url("/hotdog.zip"), sha1, str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert os.path.isdir(tmp_path / "hotdog" / "train")


def test_importing_and_drawing_plots_leaves_the_matplotlib_backend_alone(tmp_path):
    code = """
import matplotlib
from hotdog.experiments import plots
plots.save_curves({"strategies": [{"name": "a", "history": [{"epoch": 1, "test_acc": 0.5, "train_loss": 1.0}]}]},
                  "curves.png")
print(matplotlib.get_backend())
"""
    result = run_python(code, env={"MPLBACKEND": "svg"}, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "svg" and (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("value, expected", [("", str(os.cpu_count())), ("1", "1")])
def test_all_cores_unless_the_user_chose(value, expected):
    result = run_python("import os, hotdog; print(os.environ['OMP_NUM_THREADS'])", env={"OMP_NUM_THREADS": value})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def _zero_output(net, pretrained, imagenet_class):
    for param in net.output.collect_params().values():
        param.set_data(mx.nd.zeros(param.shape))


@pytest.fixture
def zero_head():
    """A strategy that exists only in this test: finetune's net, last stage and output learning, the output
    starting from zeros. Registered the way a user would add one; removed afterwards."""
    STRATEGIES.register("zero-head", lambda text, k: Strategy(text, pretrained=True, trainable_stages=1,
                                                             init_output=_zero_output),
                        "test only: last stage and a zero-initialised output learn")
    yield "zero-head"
    STRATEGIES.unregister("zero-head")


def test_a_strategy_defined_in_a_test_trains_compares_and_predicts(zero_head, tiny_data, pretrained_params, tmp_path,
                                                                  capsys):
    pretrained = pretrained_net(params_file=pretrained_params[0])
    config = TrainConfig(strategy=zero_head, data_dir=tiny_data, epochs=1, batch_size=8, image_size=32)
    built = config.strategy_spec.build(pretrained, num_classes=2)
    assert all((p.data().asnumpy() == 0).all() for p in built.output.collect_params().values())
    result = train(config, str(tmp_path / "train"), [mx.cpu()], pretrained=pretrained, quiet=True)
    assert len(result["history"]) == 1 and np.isfinite(result["history"][0]["train_loss"])
    assert json.loads((tmp_path / "train" / "config.json").read_text())["strategy"] == "zero-head"

    results = compare(["finetune", zero_head], config, str(tmp_path / "compare"), [mx.cpu()], pretrained=pretrained,
                      quiet=True)
    assert [(r["name"], r["status"], r["lr"]) for r in results["strategies"]] == [
        ("finetune", "ok", 0.01), ("zero-head", "ok", 0.01)]

    # The command line knows it too: its --help lists it, train and predict work with it.
    out = str(tmp_path / "cli")
    assert cli.main(["train", "--strategy", zero_head, "--pretrained-params", pretrained_params[0], "--data-dir",
                     tiny_data, "--epochs", "1", "--batch-size", "8", "--image-size", "32", "--out", out, "-q"]) == 0
    image = os.path.join(tiny_data, "hotdog", "test", "hotdog", "1000.png")
    capsys.readouterr()
    assert cli.main(["predict", image, "--model-dir", out]) == 0
    assert capsys.readouterr().out.startswith(image + "\t")
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "zero-head" in capsys.readouterr().out
