# The two commands of the README: `make workbook` (the whole workbook on the sample data) and
# `make test` (pytest and nbval). Both create the virtual environment when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= outputs

.PHONY: workbook test venv sync bench clean

$(BIN)/effnet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[tf,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

venv: $(BIN)/effnet

workbook: venv
	$(BIN)/python -m effnet_helpers.workbook --output $(OUT)

test: venv
	EFFNET_PROFILE=ci $(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider

sync: venv
	$(BIN)/jupytext --sync notebooks/[0-9]*.py

bench: venv
	$(BIN)/python benchmarks/bench_convert.py

clean:
	rm -rf $(OUT)
