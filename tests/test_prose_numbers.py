"""The lessons' rule for numbers: a number in a notebook's prose is never a stale copy of an output.

Every number a markdown cell states (decimals, percentages, "4x", thousands, integers from 10 up)
must be one of:
- printed by a cell: then the prose does not repeat it, so this test finds it nowhere and fails;
- in the stored output of one of the notebook's `# NBVAL_CHECK_OUTPUT` cells, which nbval
  compares with every run (so the prose cannot drift from it);
- a literal of the notebook's own code (a parameter or argument the reader sees: `0.15` for
  "15%", `10_000` for "10,000");
- a fact of the world, a paper or the package, listed in FACTS with its reason; a fact of the
  package is checked against the package's value here.
Years, notebook numbers (`03`), code in backticks and link targets are not numbers of the prose.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from effnet_helpers import architecture as arch
from effnet_helpers import layout, settings, specs, training

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + \
    sorted((ROOT / "notebooks" / "ja").glob("[0-9][0-9]_*.ipynb"))  # the Japanese edition too

NUMBER = re.compile(r"(?<![\w.,^-])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d+(?:\.\d+)?\s?%|\d+(?:\.\d+)?x"
                    r"|[1-9]\d+)(?![\w^])")
B0_STAGE_REPEATS = sum(stage.repeats for stage in arch.B0_STAGES)
SMOOTHED_TARGET = training.smoothed_targets(training.TrainConfig().label_smoothing, 10)[0]  # 10 digits

# A number the prose may state without an output to back it: why, and, for a number of the
# package, the package's value it must equal.
FACTS = {
    "1.28": ("ImageNet (ILSVRC-2012): 1.28 million training photos", None),
    "1,000": ("ImageNet's classes, and the dense layer of its classifier", None),
    "128": ("1.28 million written the Japanese way: 128 万", None),
    "255": ("the pixel range 0 to 255 (0〜255 in the Japanese edition)", None),
    "3,670": ("TensorFlow's flowers dataset", None),
    "4,000": ("the width of a phone photo", None),
    "0.75": ("keras.io's Stanford Dogs transfer example, quoted", None),
    "90": ("90-degree rotations, an augmentation's name", None),
    "3x": ("the imbalance ratio above which 01 advises balancing", None),
    "10x": ("fine-tuning's rate against the head's, the usual rule", None),
    "1,024": ("a TPU's global batch in the example of the scaling rule", None),
    "4x": ("1,024 / 256, the example of the scaling rule", 1024 // training.REFERENCE_BATCH),
    "256": ("the batch learning rates are given for", training.REFERENCE_BATCH),
    "100": ("the head phase's minimum steps", training.MIN_HEAD_STEPS),
    "15%": ("the test share notebook 01 carves off the sample", 100 * settings.SAMPLE_TEST_FRACTION),
    "65": ("100 - 20 - 15, the train share the split demo asks for", 65),
    "15": ("the calibration bins, and the split demo's test share", settings.CALIBRATION_BINS),
    "72": ("the perceptual hash's crops: 8 sizes in 9 places", 9 * len(layout.HASH_CROPS)),
    "0.91": ("the smoothed target of the true class (smoothing 0.1, 10 classes)",
             round(SMOOTHED_TARGET, 2)),
    "16": ("B0's blocks (16-bit PNG too)", B0_STAGE_REPEATS),
    "1,280": ("the channels of B0's top convolution", arch.HEAD_FILTERS),
    "1,152": ("the widest expanded channels SE re-weights in B0",
              arch.B0_STAGES[-1].filters_in * arch.B0_STAGES[-1].expand_ratio),
    "224": ("B0's and Lite0's native input size", specs.EFFICIENTNET["B0"].resolution),
    "380": ("B4's native input size", specs.EFFICIENTNET["B4"].resolution),
    "600": ("B7's native input size", specs.EFFICIENTNET["B7"].resolution),
    "19": ("the paper's rounded parameter count of B4 (millions)",
           specs.EFFICIENTNET["B4"].params_M),
    "1.4": ("B4's width coefficient", specs.EFFICIENTNET["B4"].width),
    "1.8": ("B4's depth coefficient", specs.EFFICIENTNET["B4"].depth),
    "1.2": ("the paper's alpha", arch.ALPHA),
    "1.1": ("the paper's beta", arch.BETA),
    "1.15": ("the paper's gamma", arch.GAMMA),
    "0.2": ("the last block's stochastic-depth drop rate", arch.DROP_CONNECT_RATE),
    "0.8": ("its survival probability", 1 - arch.DROP_CONNECT_RATE),
    "20": ("an example count in 04's confusion-matrix text", None),
    "500": ("an example class size in 04's confusion-matrix text", None),
    "25": ("an example class size in 04's confusion-matrix text", None),
    "100%": ("a whole row of a row-normalised matrix", None),
    "80%": ("the example confidence of 04's calibration text", None),
}


def _outputs(cell) -> str:
    texts = []
    for output in cell.get("outputs", []):
        texts.append("".join(output.get("text", "")))
        texts += ["".join(value) for kind, value in output.get("data", {}).items()
                  if kind.startswith("text/")]
    return "\n".join(texts)


def _forms(token: str) -> set[str]:
    """The ways code or an output may write the number TOKEN."""
    bare = token.replace(" ", "").rstrip("%x")
    forms = {bare, bare.replace(",", ""), bare.replace(",", "_")}
    if token.endswith("%"):
        share = float(bare) / 100
        forms |= {f"{share:g}", f"{share:.2f}"}
    return forms


def _written(form: str, text: str) -> bool:
    return re.search(r"(?<![\d.])" + re.escape(form) + r"(?![\d])", text) is not None


def prose_numbers(notebook) -> list[tuple[int, str, str]]:
    """(cell index, number, context) for each number of the prose with nothing to back it."""
    cells = notebook["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    checked = "\n".join(_outputs(c) for c in cells if c["cell_type"] == "code"
                        and "NBVAL_CHECK_OUTPUT" in "".join(c["source"]))
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        text = re.sub(r"`[^`]*`", "``", "".join(cell["source"]))
        text = re.sub(r"\]\([^)]*\)", "]", text)
        for match in NUMBER.finditer(text):
            token = match.group().replace(" ", "")
            if re.fullmatch(r"(19|20)\d\d", token) or token in FACTS:
                continue
            if any(_written(form, code) or _written(form, checked) for form in _forms(token)):
                continue
            found.append((index, token, text[max(0, match.start() - 50):match.end() + 20]))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name + "/" + p.stem)
def test_numbers_in_the_prose_are_printed_checked_or_facts(path):
    unbacked = prose_numbers(json.loads(path.read_text(encoding="utf-8")))
    assert not unbacked, (
        "numbers in the prose that no cell prints, no check cell holds and FACTS does not list "
        "(print them from the value instead):\n"
        + "\n".join(f"  cell {i}: {token!r} in ...{context!r}" for i, token, context in unbacked))


@pytest.mark.parametrize("token", [t for t, (_, value) in FACTS.items() if value is not None])
def test_the_facts_of_the_package_are_its_values(token):
    reason, value = FACTS[token]
    stated = float(token.rstrip("%x").replace(",", ""))
    assert stated == pytest.approx(float(value)), f"{token} ({reason}) is now {value}"


def test_a_number_copied_from_an_output_is_caught():
    notebook = {"cells": [
        {"cell_type": "code", "source": ["print(f'accuracy {acc:.3f}')"],
         "outputs": [{"output_type": "stream", "text": ["accuracy 0.912\n"]}]},
        {"cell_type": "markdown", "source": ["The model reaches 0.912 after 12 epochs, 4.5x the "
                                             "baseline; 1,797 images."]},
        {"cell_type": "code", "source": ["# NBVAL_CHECK_OUTPUT\nprint(n)"],
         "outputs": [{"output_type": "stream", "text": ["1797\n"]}]},
        {"cell_type": "markdown", "source": ["In 2017, see [03](03_x.ipynb) and `0.5`; 15%."]},
    ]}
    found = [token for _, token, _ in prose_numbers(notebook)]
    assert found == ["0.912", "12", "4.5x"]  # 1,797 is checked; 2017, 03, `0.5` and 15% are not numbers of an output
