# Every build, test and benchmark runs with Go 1.27 (fetched by the go command from the module
# proxy when the installed go is older) and the SIMD kernels of GoMLX's go backend.
export GOTOOLCHAIN := go1.27.3
export GOEXPERIMENT := simd

GO ?= go
PKGS := ./...

.PHONY: all build pipeline test test-short vet bench fuzz clean notebooks notebooks-setup notebooks-test notebooks-check

all: build

build:
	$(GO) build -o bin/ ./tools/...

# The Apache Beam pipeline (README, "The pipeline") is a nested module, tools/pipeline, so that
# Beam's dependencies stay out of the library's build: `go build ./...` here never descends into
# it. PIPELINE_TAGS=cloud adds the Dataflow runner and s3://; CGO_ENABLED=0 makes the static
# worker binary a cluster's containers run.
PIPELINE_TAGS ?=
pipeline:
	cd tools/pipeline && $(GO) build -tags '$(PIPELINE_TAGS)' -o ../../bin/pipeline .

vet:
	$(GO) vet $(PKGS)

# The whole test suite, parity tests against ../shared/golden included (they skip with a message
# when that folder is absent, and fail under CI=true).
test: vet
	$(GO) test -count=1 -timeout 30m $(PKGS)
	cd tools/pipeline && $(GO) vet ./... && $(GO) list -tags cloud -deps . >/dev/null && $(GO) test -count=1 -timeout 30m ./...

test-short:
	$(GO) test -short -count=1 $(PKGS)

# The Go side of docs/BENCHMARKS.md on full-size random ViT-B/16 weights (made once, ~600 MB).
# The PyTorch peer (Debian's python3-torch, so the system interpreter): /usr/bin/python3 ../shared/bench/torch_peer.py --weights out/vit_b16_random.safetensors
BENCH_WEIGHTS ?= out/vit_b16_random.safetensors
bench:
	mkdir -p $(dir $(BENCH_WEIGHTS))
	test -f $(BENCH_WEIGHTS) || $(GO) run ./tools/randomckpt -out $(BENCH_WEIGHTS)
	$(GO) run ./tools/bench -weights $(BENCH_WEIGHTS) -json out/go.json

clean:
	rm -rf bin out

# GoNB notebooks (notebooks/*.ipynb; Jupyter itself from the OS packages or pip, see the README).
# notebooks: set up the Go kernel and start JupyterLab on notebooks/ (the classic notebook when
# JupyterLab is not installed).
# notebooks-test: execute every notebook headless on the tiny golden checkpoint (what CI runs);
# a cell error fails the target. The executed copies go to $(NB_OUT).
GOBIN_DIR = $(shell $(GO) env GOPATH)/bin
GOLDEN ?= ../shared/golden
NB_OUT ?= /tmp/clipsurgery-notebooks
JUPYTER ?= jupyter

# How to install what a notebooks target misses (Debian has no JupyterLab package: pip has).
JUPYTER_HOW = Debian/Ubuntu: sudo apt-get install jupyter-notebook jupyter-nbconvert python3-ipykernel (classic notebook); JupyterLab: pip install jupyterlab

notebooks-check:
	@command -v $(JUPYTER) >/dev/null 2>&1 || { echo "Jupyter is not installed ($(JUPYTER) not found). Install it: $(JUPYTER_HOW)"; exit 1; }

notebooks-setup: notebooks-check
	$(GO) install tool
	PATH="$(GOBIN_DIR):$$PATH" gonb --install --force_deps

notebooks: notebooks-setup
	-$(GO) install golang.org/x/tools/gopls@v0.24.0
	@cd notebooks && if $(JUPYTER) lab --version >/dev/null 2>&1; then \
		echo "starting JupyterLab ($(JUPYTER) lab)"; ui=lab; \
	elif $(JUPYTER) notebook --version >/dev/null 2>&1; then \
		echo "JupyterLab is not installed (pip install jupyterlab): starting the classic notebook ($(JUPYTER) notebook)"; ui=notebook; \
	else echo "neither JupyterLab nor the classic notebook is installed. Install one: $(JUPYTER_HOW)"; exit 1; fi; \
	PATH="$(GOBIN_DIR):$$PATH" $(JUPYTER) $$ui --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks-test: notebooks-setup
	@$(JUPYTER) nbconvert --version >/dev/null 2>&1 || { echo "jupyter nbconvert is not installed. Install it: $(JUPYTER_HOW)"; exit 1; }
	mkdir -p $(NB_OUT)
	set -e; for nb in notebooks/*.ipynb; do \
		echo "== $$nb"; start=$$(date +%s); \
		PATH="$(GOBIN_DIR):$$PATH" \
		CLIPSURGERY_WEIGHTS="$(abspath $(GOLDEN))/models/vit16.openai.safetensors" \
		CLIPSURGERY_SAM_WEIGHTS="$(abspath $(GOLDEN))/sam/sam_tiny.pth" \
		CLIPSURGERY_VFM="$(abspath .)/testdata/dino/models/dinov2_tiny_hf" \
		CLIPSURGERY_IMAGES="$(abspath $(GOLDEN))/images" CLIPSURGERY_OFFLINE=1 \
		$(JUPYTER) nbconvert --to notebook --execute --ExecutePreprocessor.timeout=1200 \
			--output-dir $(NB_OUT) "$$nb"; \
		echo "== $$nb: $$(( $$(date +%s) - start ))s"; \
	done
