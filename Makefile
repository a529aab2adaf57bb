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

clean:
	rm -rf bin out
