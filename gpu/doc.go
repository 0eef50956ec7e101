// Package gpu finds this node's GPUs through NVML and decides which of them
// a task may see: never more than Slurm or the container granted, written by
// UUID into CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES. Open calls no
// NVML function after a failed Init, since that kills the process without a
// driver. The rules and the measurements behind them: docs/ARCHITECTURE.md,
// section "GPUs".
package gpu
