# Build and test entry points. The scripts do the work so that a machine
# without make runs the same commands (README "Quick start").

# -z lazy: go-nvml resolves NVML symbols at first use. Without it, a binary on a
# machine without libnvidia-ml.so.1 dies on the first NVML call after a failed
# Init (Shutdown included). See README "Build" and gpu/.
GO_LDFLAGS := -extldflags=-Wl,-z,lazy
export CGO_CFLAGS := -O2 -g -Wno-deprecated-declarations

.PHONY: build test unit demo vet
build:
	CGO_ENABLED=1 go build -ldflags '$(GO_LDFLAGS)' -o bin/noderun ./cmd/noderun

vet:
	gofmt -l . | (! grep .) && go vet ./...

unit:
	go test ./...

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh
