# The two commands of the README:
#   make workbook   run every notebook in order on the sample data; results in outputs/
#   make test       run the tests (pytest, and nbval over the notebooks in the CI profile)
# Both create the virtual environment .venv (Python 3.11, pip) when it is missing or outdated.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
OUT     ?= outputs
PROFILE ?= cpu
STAMP   := $(VENV)/.installed

.PHONY: workbook test venv sync ja reference bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[tf,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	touch $@

venv: $(STAMP)

workbook: venv
	$(BIN)/python -m effnet_helpers.workbook --output $(OUT) --profile $(PROFILE)

test: venv
	rm -rf $(OUT)/ci
	EFFNET_PROFILE=ci EFFNET_WORK_DIR=$(CURDIR)/$(OUT)/ci \
		$(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider

# After editing notebooks/NN_*.py: update the .ipynb side (and back), then the Japanese edition.
sync: venv
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.py
	$(BIN)/python tools/ja_edition.py

# The Japanese edition notebooks/ja/ from the English notebooks and notebooks/ja/translations/;
# `python tools/ja_edition.py --status` lists the texts to translate (docs/japanese.md).
ja: venv
	$(BIN)/python tools/ja_edition.py

# After a change that alters a "# NBVAL_CHECK_OUTPUT" cell's output, on purpose.
reference: venv
	$(BIN)/python -m effnet_helpers.workbook --update-reference
	$(BIN)/python tools/ja_edition.py

# make bench BENCH=NAME runs benchmarks/bench_NAME.py: convert (default), pipeline, head,
# inference, latency or train_speed; figures and commands in benchmarks/RESULTS.md.
BENCH ?= convert
bench: venv
	$(BIN)/python benchmarks/bench_$(BENCH).py

clean:
	rm -rf $(OUT)
