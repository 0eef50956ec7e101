package gpu

import "fmt"

// Fake returns an inventory of n simulated GPUs, for `submit --local` on a
// machine without NVML: the same policy code then picks and prints devices
// as it would on a real node, so the demo shows real-looking bindings.
//
// GPU i has index i, minor number i, UUID
// GPU-00000000-0000-0000-0000-<i as 12 decimal digits> (stable across runs,
// so tests and golden files can name it), PCI bus id 00000000:<i+1 as two hex
// digits>:00.0, 80 GiB of memory, no MIG, NUMA node unknown. Fake(0) is a node
// without GPUs.
func Fake(n int) Inventory { return fakeInventory(max(n, 0)) }

// FakeUUID is the UUID Fake gives GPU i.
func FakeUUID(i int) string { return fmt.Sprintf("GPU-00000000-0000-0000-0000-%012d", i) }

type fakeInventory int

func (f fakeInventory) Source() string { return "fake" }

func (f fakeInventory) Devices() ([]Device, error) {
	devs := make([]Device, int(f))
	for i := range devs {
		devs[i] = Device{
			Index:       i,
			UUID:        FakeUUID(i),
			PCIBusID:    fmt.Sprintf("00000000:%02X:00.0", i+1),
			Name:        "noderun simulated GPU",
			MemoryBytes: 80 << 30,
			Minor:       i,
			NUMANode:    -1,
		}
	}
	return devs, nil
}
