# Two commands on a fresh machine:  `make run` starts the dashboard, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/python -m pip
PORT   ?= 8501
# Which PyTorch build: `auto` (CUDA where `nvidia-smi` finds a GPU, else CPU), `cpu` or `cuda`.
TORCH  ?= auto
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
CPU_INDEX  := https://download.pytorch.org/whl/cpu

.PHONY: run test check bench chromium clean python-check gpu-check screenshots i18n

# Python 3.11-3.14 (torch 2.14.1 has wheels for those; 3.10 fails deep inside pip).
python-check:
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 14))' 2>/dev/null || { \
	  echo "error: $(PYTHON) is not Python 3.11-3.14 ($$($(PYTHON) --version 2>/dev/null || echo "not found"))."; \
	  echo "       Install one (e.g. python3.12) and run: make $(MAKECMDGOALS) PYTHON=python3.12"; exit 1; }

$(BIN)/.runtime: requirements.txt | python-check
	@# A .venv without a working pip (Debian without python3-venv left it half-made) is remade.
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "error: could not create $(VENV); on Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }; }
	$(PIP) install --quiet --upgrade pip
	@kind=$(TORCH); if [ "$$kind" = auto ]; then \
	  if nvidia-smi -L >/dev/null 2>&1; then kind=cuda; else kind=cpu; fi; fi; \
	  echo "PyTorch: the $$kind build (make run TORCH=cpu|cuda chooses)"; \
	  if [ "$$kind" = cuda ]; then \
	    $(PIP) install --quiet $(TORCH_PINS) || exit 1; \
	    if [ "$$($(BIN)/python -c 'import torch; print(bool(torch.version.cuda))')" = False ]; then \
	      echo "replacing the CPU build with the CUDA build"; \
	      $(PIP) install --quiet --force-reinstall --no-deps $(TORCH_PINS) || exit 1; fi; \
	  elif $(BIN)/python -c 'import urllib.request as u; u.urlopen("$(CPU_INDEX)/torch/", timeout=10)' 2>/dev/null; then \
	    $(PIP) install --quiet $(TORCH_PINS) --extra-index-url $(CPU_INDEX) || exit 1; \
	  else \
	    echo "PyTorch's CPU index ($(CPU_INDEX)) is unreachable: torch comes from the default"; \
	    echo "index instead; on Linux that is the CUDA build (about 6 GB of disk, not 1.5 GB)"; \
	    $(PIP) install --quiet $(TORCH_PINS) || exit 1; \
	  fi
	@# The rest of requirements.txt, without its CPU index (only torch needs it; above).
	grep -v -e '^--extra-index-url' requirements.txt | $(PIP) install --quiet -r /dev/stdin
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	@# Its `-r requirements.txt` is installed above (with the right torch).
	grep -v -e '^-r ' requirements-dev.txt | $(PIP) install --quiet -r /dev/stdin
	touch $@

run: $(BIN)/.runtime
	$(BIN)/streamlit run app.py --server.port $(PORT)

# Debian's Chromium for the browser tests (Playwright cannot download its own here), and a
# CJK font so that its Chinese pages show characters, not boxes (tests/test_browser_i18n.py).
BROWSER_PACKAGES := chromium fonts-noto-cjk
chromium:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq $$missing >/dev/null) || \
	  echo "warning: could not install$$missing; the browser tests that need it will be skipped"; \
	elif command -v sudo >/dev/null 2>&1; then (sudo apt-get update -qq && sudo apt-get install -y -qq $$missing >/dev/null) || \
	  echo "warning: could not install$$missing; the browser tests that need it will be skipped"; \
	else echo "warning:$$missing missing and no root to install it; the browser tests that need it will be skipped"; fi

# The translation catalog: extract every marked text (app.py, pages/, googlenet_core/),
# bring the Chinese catalog up to date (a new text arrives empty, for a translator; no fuzzy
# guesses) and compile it. The compiled .mo is committed (Community Cloud only runs pip);
# tests/test_i18n.py fails when a text has no Chinese or the .mo is older than the .po.
LOCALE := googlenet_core/locale
i18n: $(BIN)/.dev
	$(BIN)/pybabel extract --project="GoogLeNet lab" --add-location=file --sort-by-file \
	  -w 100 -c TRANSLATORS: -o $(LOCALE)/googlenet.pot app.py pages googlenet_core
	$(BIN)/pybabel update -i $(LOCALE)/googlenet.pot -d $(LOCALE) -D googlenet -l zh_CN \
	  -w 100 --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -d $(LOCALE) -D googlenet --statistics
	rm -f $(LOCALE)/googlenet.pot  # a step between the two, not part of the package

check: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy googlenet_core app.py pages

# One pytest worker per core, at most 4 (pytest-xdist); PYTEST_WORKERS=0 runs them in one
# process. A worker that runs browser tests starts its own Streamlit server and Chromium.
PYTEST_WORKERS ?= auto
test: $(BIN)/.dev chromium check
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --maxprocesses 4

# The browser tests again, saving a screenshot of every page and concept they check
# (test-output/screenshots/; docs/screenshots/ keeps a chosen set).
screenshots: $(BIN)/.dev chromium
	SCREENSHOTS=1 $(BIN)/python -m pytest -m browser

bench: $(BIN)/.dev chromium
	$(PIP) install --quiet -r benchmarks/requirements.txt
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

# The GPU path on a machine with CUDA, with the torch it already has (no venv, no download);
# says so and succeeds where there is no GPU. GPU_PYTHON: the interpreter that has torch.
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) test-output .pytest_cache .mypy_cache .ruff_cache
