"""The classroom notebook runs top to bottom in demo mode and produces its figures and tables."""
import json
import os

import nbformat
from nbclient import NotebookClient

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "notebooks", "fine_tuning.ipynb")
EXPERIMENTS = ("main", "ex1", "ex2", "ex3", "ex4", "ex5")


def test_committed_notebook_has_no_outputs_and_demo_on():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert code[0].source.strip().startswith("DEMO = True")


def test_notebook_runs_in_demo_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTDOG_NOTEBOOK_SMOKE", "1")  # the demo's tiny settings
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on any cell error
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    pngs = [out for out in outputs if "image/png" in out.get("data", {})]
    tables = [out for out in outputs if "| strategy |" in out.get("data", {}).get("text/markdown", "")]
    # The data grid, the learning-rate range test, the curves of every experiment and the Grad-CAM grid of
    # every comparison (ex1 merges separate runs: curves only).
    assert len(pngs) == 2 + len(EXPERIMENTS) + len(EXPERIMENTS) - 1
    assert len(tables) == len(EXPERIMENTS)
    text = "".join(out.get("text", "") for out in outputs)
    assert "'photocopier'" in text and "'hotdog' is row 934" in text   # the erratum, printed
    runs = tmp_path / "runs" / "notebook"
    for name in ("main", "ex2", "ex3", "ex4", "ex5"):
        assert (runs / name / "attention.png").exists()
        results = json.loads((runs / name / "results.json").read_text())
        assert results["synthetic"] is True
        assert all(row["status"] == "ok" for row in results["strategies"]), name
    ex3 = json.loads((runs / "ex3" / "results.json").read_text())
    assert [row["name"] for row in ex3["strategies"]] == ["finetune", "partial:2", "partial:1"]
    assert (runs / "ex1" / "curves.png").exists()
    found = json.loads((runs / "ex1" / "lr-find" / "lr_find.json").read_text())
    assert found["method"] == "minimum/10" and found["train_images"] > 0   # the exercise used the range test
    assert "suggested learning rate:" in text
