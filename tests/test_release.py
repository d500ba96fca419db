"""The release a class installs by name: the wheel (and the sdist) carry every file the package reads at run
time, and the installed package works from outside the checkout."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile

import pytest

import hotdog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(hotdog.__file__)))
DISTRIBUTION = "hotdog_finetune"


def run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
    return result


def package_files_in_git():
    """Every file under hotdog/ that the checkout tracks (what the package may read at run time)."""
    listed = run(["git", "ls-files", "hotdog"], cwd=ROOT).stdout.split()
    return sorted(path for path in listed if "__pycache__" not in path)


def clean_copy(dest):
    """The checkout's tracked files in a fresh folder: a build there cannot pick up a stale build/ or
    egg-info from the checkout (setuptools reuses build/lib, which hid a missing subpackage once)."""
    for path in run(["git", "ls-files"], cwd=ROOT).stdout.split():
        source, target = os.path.join(ROOT, path), os.path.join(dest, path)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """The wheel built from the checkout, installed into a folder of its own (dependencies: this venv's)."""
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("needs the git checkout (the wheel is built from it)")
    folder = tmp_path_factory.mktemp("release")
    source = clean_copy(str(folder / "source"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder / "dist"), source])
    wheel = glob.glob(str(folder / "dist" / "*.whl"))
    assert len(wheel) == 1, wheel
    target = folder / "site"
    run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), wheel[0]])
    return wheel[0], str(target), folder


def hotdog_outside(target, workdir, *args, env=None):
    """`python -m hotdog ARGS` from ``workdir`` (outside the checkout), importing only the installed copy."""
    environment = dict(os.environ, PYTHONPATH=target, **(env or {}))
    return subprocess.run([sys.executable, "-m", "hotdog", *args], cwd=str(workdir), env=environment,
                          capture_output=True, text=True, timeout=600)


def test_the_wheel_carries_every_package_file(installed_wheel):
    wheel, _, _ = installed_wheel
    assert os.path.basename(wheel).startswith("{}-{}-".format(DISTRIBUTION, hotdog.__version__))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    missing = [path for path in package_files_in_git() if path not in names]
    assert not missing, "files the package has but the wheel lacks: {}".format(missing)
    assert "Name: hotdog-finetune" in metadata and re.search(r"Requires-Python: .*<3\.12", metadata)
    assert "Provides-Extra: test" in metadata


def test_the_installed_wheel_works_outside_the_checkout(installed_wheel):
    _, target, folder = installed_wheel
    work = folder / "elsewhere"
    work.mkdir()
    where = subprocess.run([sys.executable, "-c", "import hotdog; print(hotdog.__file__)"], cwd=str(work),
                           env=dict(os.environ, PYTHONPATH=target), capture_output=True, text=True)
    assert where.stdout.strip().startswith(target), where.stdout + where.stderr

    version = hotdog_outside(target, work, "--version")
    assert version.returncode == 0 and version.stdout.strip() == "hotdog {}".format(hotdog.__version__)
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as f:
        assert re.search(r"^## (\S+)", f.read(), re.M).group(1) == hotdog.__version__  # the top entry

    # The demo end to end; HOTDOG_DATA_DIR moves the generated data out of the working folder.
    data = folder / "data-home"
    demo = hotdog_outside(target, work, "compare", "--demo", "--demo-size", "tiny", "--out", "runs/demo", "-q",
                          env={"HOTDOG_DATA_DIR": str(data)})
    assert demo.returncode == 0, demo.stderr[-3000:]
    results = json.loads((work / "runs" / "demo" / "results.json").read_text())
    assert results["hotdog_version"] == hotdog.__version__ and results["schema"] == "hotdog.compare/2"
    assert os.path.isdir(data / "demo") and not (work / "data").exists()

    # Export the demo's fine-tuned model, and use the export folder.
    exported = hotdog_outside(target, work, "export", "--model-dir", "runs/demo/finetune", "--out", "exported")
    assert exported.returncode == 0, exported.stderr[-3000:]
    test_images = glob.glob(str(data / "demo" / "target-*" / "hotdog" / "test"))
    answered = hotdog_outside(target, work, "predict", test_images[0], "--model-dir", "exported")
    assert answered.returncode == 0 and len(answered.stdout.splitlines()) > 0, answered.stderr[-3000:]

    # The page: its HTML, CSS, JS and icon are package data, read from the installed copy.
    pytest.importorskip("starlette", reason="the serve extra is not installed: pip install 'hotdog-finetune[serve]'")
    serve_the_page(target, work, "runs/demo/finetune")


def serve_the_page(target, work, run):
    """`hotdog serve` from the installed wheel on an ephemeral loopback port: the page and every asset it
    links load."""
    process = subprocess.Popen([sys.executable, "-m", "hotdog", "serve", "--model-dir", run, "--port", "0"],
                               cwd=str(work), env=dict(os.environ, PYTHONPATH=target), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # the address, once the model is loaded and the port is bound
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        base = "http://127.0.0.1:{}".format(match.group(1))
        page = urllib.request.urlopen(base + "/", timeout=30).read().decode("utf-8")
        links = re.findall(r'(?:src|href)="(/[^"]*)"', page)
        assert links, page[:500]
        for link in links:
            with urllib.request.urlopen(base + link, timeout=30) as response:
                assert response.status == 200 and response.read(), link
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_sdist_builds_and_installs(tmp_path):
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("needs the git checkout")
    source = clean_copy(str(tmp_path / "source"))
    run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path / "sdist")], cwd=source)
    sdist = glob.glob(str(tmp_path / "sdist" / "*.tar.gz"))
    assert len(sdist) == 1 and re.match(r"hotdog[-_]finetune-{}\.tar\.gz$".format(re.escape(hotdog.__version__)),
                                        os.path.basename(sdist[0])), sdist
    target = tmp_path / "site"
    run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), sdist[0]])
    installed = sorted(os.path.relpath(p, str(target)).replace(os.sep, "/")
                       for p in glob.glob(str(target / "hotdog" / "**" / "*"), recursive=True)
                       if os.path.isfile(p) and "__pycache__" not in p)
    missing = [path for path in package_files_in_git() if path not in installed]
    assert not missing, "files the sdist install lacks: {}".format(missing)
