# Every build, test and benchmark runs with Go 1.27 (fetched by the go command from the module
# proxy when the installed go is older) and the SIMD kernels of GoMLX's go backend.
export GOTOOLCHAIN := go1.27.3
export GOEXPERIMENT := simd

GO ?= go
PKGS := ./...

.PHONY: all build test test-short vet bench fuzz clean

all: build

build:
	$(GO) build -o bin/ ./tools/...

vet:
	$(GO) vet $(PKGS)

# The whole test suite, parity tests against ../shared/golden included (they skip with a message
# when that folder is absent, and fail under CI=true).
test: vet
	$(GO) test -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# The Go side of docs/BENCHMARKS.md on full-size random ViT-B/16 weights (made once, ~600 MB).
# The PyTorch peer: python3 ../shared/bench/torch_peer.py --weights out/vit_b16_random.safetensors
BENCH_WEIGHTS ?= out/vit_b16_random.safetensors
bench:
	test -f $(BENCH_WEIGHTS) || $(GO) run ./tools/randomckpt -out $(BENCH_WEIGHTS)
	$(GO) run ./tools/bench -weights $(BENCH_WEIGHTS) -json out/go.json

clean:
	rm -rf bin out
