package gpu

import "fmt"

// Fake returns an inventory of n simulated GPUs with stable UUIDs
// (FakeUUID), so that `submit --local` shows real-looking bindings.
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
