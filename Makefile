# Build and test entry points, and the only place the build command is
# written: scripts/*.sh call `make build` and `make vet` (scripts/test.sh and
# scripts/demo.sh install make with apt-get when it is missing).
#
#   make build [BIN=path]   the release binary (default bin/noderun)
#   make vet [PKGS=...]     gofmt -l, go vet and staticcheck (default ./...)
#   make unit               go test ./... without the Slurm lab
#   make test | make demo   scripts/test.sh (what CI runs) | scripts/demo.sh

# -z lazy: go-nvml resolves NVML symbols at first use. Without it, a binary on a
# machine without libnvidia-ml.so.1 dies on the first NVML call after a failed
# Init (Shutdown included). See docs/ARCHITECTURE.md "Build".
GO_LDFLAGS := -extldflags=-Wl,-z,lazy
# urfave_cli_no_docs: urfave/cli without its man/markdown generator, which
# noderun does not use; its markdown parser's package init cost every
# process, every task's runner included, about 2 ms of CPU.
GO_TAGS := urfave_cli_no_docs
export CGO_CFLAGS := -O2 -g -Wno-deprecated-declarations

GO ?= go
BIN ?= bin/noderun
PKGS ?= ./...

.PHONY: build test unit demo vet
# -buildvcs=auto: --version prints the revision even where GOFLAGS turns stamping off.
build:
	CGO_ENABLED=1 $(GO) build -buildvcs=auto -tags '$(GO_TAGS)' -ldflags '$(GO_LDFLAGS)' -o '$(BIN)' ./cmd/noderun

# staticcheck is pinned in go.mod (tool directive): `go tool` runs that version.
vet:
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then \
		echo "not gofmt-ed (run gofmt -w on them):" >&2; echo "$$files" >&2; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

unit:
	$(GO) test ./...

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh
