// Package gpu finds this node's GPUs through NVML and decides which of them
// a task may see.
//
// # Pieces
//
//   - Inventory (api.go): the GPUs, their UUIDs, PCI bus ids, minor numbers,
//     memory, MIG devices, NUMA node and CPU affinity. NewNVML reads them
//     from an nvml.Interface (github.com/NVIDIA/go-nvml); only cmd/ builds
//     the real one, tests pass go-nvml's mocks. Fake simulates GPUs for
//     `submit --local`. NVML return codes become *NVMLError at this boundary.
//   - Open: nvml.Init, with the safety rule below, and ErrUnavailable saying
//     why NVML cannot be used and what happens instead.
//   - ParseVisible (visible.go): every accepted form of a visible-devices
//     value; garbage is an error naming the variable and the entry.
//   - Decide (policy.go): inventory ∩ what Slurm or the container already
//     granted (never widened), the task's share by mode, the precheck, and
//     the variables to set: NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES
//     by UUID, CUDA_DEVICE_ORDER=PCI_BUS_ID.
//
// # Safety without a driver
//
// go-nvml is cgo. Its preamble links with
// -Wl,--unresolved-symbols=ignore-in-object-files: the nvml* symbols stay
// undefined in the binary and are found in libnvidia-ml.so.1 once Init has
// dlopen'ed it (RTLD_LAZY|RTLD_GLOBAL). Measured on a machine without the
// library (Debian 12, glibc 2.36, gcc 12.2, GNU ld 2.40, Go 1.26.8,
// go-nvml v0.13.4-1), with a 20-line program and with noderun itself:
//
//   - Init returns ERROR_LIBRARY_NOT_FOUND (12) in every build.
//   - Linked with immediate binding (-Wl,-z,now, as from CGO_LDFLAGS or a
//     hardening toolchain; DT_FLAGS BIND_NOW), or run with LD_BIND_NOW=1 in
//     the environment, the binary dies before main, even for --help:
//     "symbol lookup error: ./noderun: undefined symbol:
//     nvmlGpuInstanceGetComputeInstanceProfileInfoV", exit status 127.
//   - Linked lazily, it runs. Shutdown after the failed Init returns
//     ERROR_UNINITIALIZED (this go-nvml checks its reference count first),
//     but any other call, e.g. DeviceGetCount, kills the process at once:
//     "symbol lookup error: ...: undefined symbol: nvmlDeviceGetCount",
//     exit status 127, no Go panic, no deferred function runs. Hence Open
//     calls nothing after a failed Init, not even Shutdown (its safety is
//     an implementation detail of one go-nvml version), and NewNVML calls
//     nvmlDeviceGetNumaNodeId only after LookupSymbol found it (older drivers
//     lack it; calling a missing symbol ends the same way).
//   - This toolchain links lazily by default, so a plain `go build` worked
//     here too. The Makefile passes -ldflags=-extldflags=-Wl,-z,lazy anyway:
//     the linker's last -z wins, so it also overrides a -z now from
//     CGO_LDFLAGS (tested: no BIND_NOW in the result, and it runs).
//   - Fully static (-linkmode=external -extldflags=-static): ld warns that
//     dlopen in a static binary needs the build's glibc at run time. Without
//     the library it runs; with a libnvidia-ml.so.1 present — that is, on
//     exactly the GPU nodes — the first NVML call jumps to address 0:
//     "SIGSEGV: segmentation violation PC=0x0 ... signal arrived during cgo
//     execution" in nvmlInit_v2 (tested with a stand-in library). A static
//     binary never binds the nvml* symbols of the dlopen'ed library. So the
//     release binary links glibc dynamically.
//
// The result of `make build` here: "ELF 64-bit LSB executable, x86-64,
// dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2, for GNU/Linux
// 3.2.0"; ldd: linux-vdso.so.1, libc.so.6, /lib64/ld-linux-x86-64.so.2 and
// nothing else; the newest symbol version it needs is GLIBC_2.34 (dlopen,
// pthread_create, __libc_start_main moved into libc in 2.34). It therefore
// runs on x86-64 Linux with glibc >= 2.34 (Debian 12, Ubuntu 22.04, RHEL 9
// and newer), with or without an NVIDIA driver. For glibc 2.28 (RHEL 8),
// build it on such a system. cmd/noderun's TestGPUsWithoutNVML builds with
// the Makefile's flags, checks for PT_INTERP and against BIND_NOW, and runs
// `noderun gpus` without the library.
//
// # Index spaces
//
// NVML indices are PCI bus order among the GPUs visible here (a device cgroup
// or container renumbers them from 0); CUDA's are fastest-first unless
// CUDA_DEVICE_ORDER=PCI_BUS_ID; Slurm's SLURM_STEP_GPUS/SLURM_JOB_GPUS are
// gres indices, matched here against device minor numbers (/dev/nvidiaN),
// which survive cgroups; NVIDIA_VISIBLE_DEVICES indices are the host's. Only
// UUIDs mean the same GPU everywhere, so Decide writes UUIDs. Decide's doc
// comment has the rules; MIG devices are the unit handed out on a GPU in MIG
// mode, and an index or GPU UUID in a restriction covers all of that GPU's
// MIG devices (Slurm's own MIG gres indices are not modelled).
package gpu
