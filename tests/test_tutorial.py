"""docs/tutorial.ipynb runs top to bottom in a fresh kernel and shows what the committed file shows.

The kernel is this interpreter (``python3`` with ipykernel, started with ``sys.executable``).
The cells tagged ``data`` depend on whether MNIST is there: without it (always checked, as in
CI) they train on the spiral data and only the other cells are compared with the committed
notebook; with MNIST's test set (``$COMPGRAPH_MNIST_DIR`` or ../shared/data/mnist, as the
other MNIST tests find it) every output must be the committed one.

After changing the notebook, or anything that changes what it prints or draws, refresh its
outputs with ``python tests/test_tutorial.py`` (it executes the notebook the same way, with
MNIST where found, and writes it back).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
CELL_TIMEOUT = 120  # seconds; the whole notebook takes about 2
REFRESH = "refresh the committed outputs with `python tests/test_tutorial.py`"


def mnist_dir() -> Path:
    return Path(os.environ.get("COMPGRAPH_MNIST_DIR") or ROOT.parent / "shared" / "data" / "mnist")


def has_mnist(root: Path) -> bool:
    return any((root / f"t10k-images-idx3-ubyte{gz}").is_file() for gz in (".gz", ""))


def execute(nb, data_dir: Path, cache_dir: Path):
    """Run ``nb`` (in place) in a fresh kernel of this interpreter; MNIST looked for in ``data_dir``."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = {**os.environ, "COMPGRAPH_MNIST_DIR": str(data_dir), "COMPGRAPH_CACHE": str(cache_dir)}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # as tests/conftest.py sets it: the same sums each run
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        record_timing=False,
        coalesce_streams=True,  # one output per stream: how the kernel chunks it is timing
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env=env)
    return nb


def outputs(cell) -> dict[str, str]:
    """A code cell's outputs as mime type → text; streams joined (their chunking is timing)."""
    out: dict[str, str] = {}
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            out[o["name"]] = out.get(o["name"], "") + o["text"]
        elif o["output_type"] == "error":
            out["error"] = f"{o['ename']}: {o['evalue']}"
        else:
            for mime, value in o.get("data", {}).items():
                out[mime] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return out


def is_data_cell(cell) -> bool:
    return "data" in cell.get("metadata", {}).get("tags", [])


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def read_notebook():
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(NOTEBOOK, as_version=4)


@pytest.fixture(scope="module")
def committed():
    return read_notebook()


@pytest.fixture(scope="module")
def without_mnist(tmp_path_factory):
    """The notebook executed where MNIST is nowhere (an empty directory and an empty cache)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nbformat = pytest.importorskip("nbformat")
    empty = tmp_path_factory.mktemp("no-mnist")
    nb = read_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    execute(nb, empty, empty)
    nb.metadata["ran_on"] = outputs(nb.cells.pop())["stdout"].strip()  # the kernel's interpreter
    return nb


def text_of(nb) -> str:
    return "\n".join(
        t for c in code_cells(nb) for mime, t in outputs(c).items() if mime in ("stdout", "text/plain")
    )


def test_the_notebook_runs_in_a_kernel_of_this_interpreter(without_mnist):
    assert not [outputs(c)["error"] for c in code_cells(without_mnist) if "error" in outputs(c)]
    assert without_mnist.metadata.kernelspec.name == "python3"
    assert without_mnist.metadata.ran_on == sys.executable


def test_the_seed_numbers_are_in_the_outputs(without_mnist):
    text = text_of(without_mnist)
    for line in [
        "price: 715",
        "dApple: 2.2",
        "dApple_num: 110",
        "dOrange: 3.3",
        "dOrange_num: 165",
        "dTax: 650",
    ]:
        assert line in text  # the layers by hand
    for line in ["∂price/∂apple: 2.2", "∂price/∂orange_num: 165", "∂price/∂tax: 650"]:
        assert line in text  # the same with Variables
    assert "dApple: 2.2, dApple_num: 110, dTax: 200" in text  # the apples alone
    assert "∂z/∂x = 2(x + y) = 6" in text  # the chain rule's trace


def test_the_graph_is_drawn_inline_with_values_and_gradients(without_mnist):
    from tests.viz.conftest import APPLE_ORANGE_EDGES, builtin_edge_labels

    svgs = [outputs(c)["image/svg+xml"] for c in code_cells(without_mnist) if "image/svg+xml" in outputs(c)]
    assert len(svgs) == 2  # the apples' bill (values only), then the apples and oranges
    assert builtin_edge_labels(svgs[0]) == {("100", ""), ("2", ""), ("200", ""), ("1.1", ""), ("220", "")}
    assert builtin_edge_labels(svgs[1]) == APPLE_ORANGE_EDGES


def test_the_stepper_is_inline_with_its_buttons_and_steps(without_mnist):
    from tests.viz.test_html import states

    (html,) = [
        outputs(c)["text/html"]
        for c in code_cells(without_mnist)
        if "cg-stepper" in outputs(c).get("text/html", "")
    ]
    prefix = re.match(r'<div class="cg-stepper" id="([^"]+)"', html).group(1)
    assert f'id="{prefix}-next"' in html and f'id="{prefix}-prev"' in html
    steps = states(html, prefix)
    assert len(steps) == 7 and steps[2]["text"].startswith("Step 1 of 4: price = ")
    assert "∂price/∂orange_num = tax·orange = 165" in html


def test_without_mnist_it_trains_on_the_spiral_and_says_so(without_mnist):
    text = "".join(outputs(c).get("stdout", "") for c in code_cells(without_mnist) if is_data_cell(c))
    assert "MNIST not found" in text and "the spiral data instead" in text
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", text).group(1))
    assert accuracy > 80


def assert_same(fresh_cells, committed_cells):
    assert len(fresh_cells) == len(committed_cells), f"the notebook's cells changed: {REFRESH}"
    for i, (fresh, old) in enumerate(zip(fresh_cells, committed_cells)):
        assert fresh.source == old.source
        assert outputs(fresh) == outputs(old), (
            f"code cell {i} ({old.source.splitlines()[0]!r}) shows something else now: {REFRESH}"
        )


def test_the_committed_outputs_are_the_fresh_ones(without_mnist, committed):
    fresh = [c for c in code_cells(without_mnist) if not is_data_cell(c)]
    old = [c for c in code_cells(committed) if not is_data_cell(c)]
    assert_same(fresh, old)


def test_with_mnist_every_committed_output_is_the_fresh_one(tmp_path, committed):
    pytest.importorskip("nbclient")
    if not has_mnist(mnist_dir()):
        pytest.skip(f"MNIST test set not found in {mnist_dir()} (set COMPGRAPH_MNIST_DIR)")
    fresh = execute(read_notebook(), mnist_dir(), tmp_path)
    assert_same(code_cells(fresh), code_cells(committed))


def refresh() -> None:
    """Execute the notebook (MNIST from where the tests find it) and write it back."""
    import tempfile

    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in code_cells(nb):
        cell.outputs, cell.execution_count = [], None
    with tempfile.TemporaryDirectory() as cache:
        data = mnist_dir() if has_mnist(mnist_dir()) else Path(cache)
        execute(nb, data, Path(cache))
    nbformat.write(nb, NOTEBOOK)
    print(f"{NOTEBOOK}: executed ({'MNIST from ' + str(data) if data != Path(cache) else 'without MNIST'})")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    refresh()
