package gpu

import (
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// symbols answers whether the loaded libnvidia-ml.so.1 has a function.
// go-nvml binds nvml* symbols lazily, so calling one the driver lacks (an
// older driver) ends the process with "symbol lookup error": every function
// beyond those that list devices is looked up before its first call.
type symbols struct {
	lib   nvml.Interface
	mu    sync.Mutex
	known map[string]bool
}

func newSymbols(lib nvml.Interface) *symbols {
	return &symbols{lib: lib, known: map[string]bool{}}
}

// has reports whether the library exports name; the answer is cached.
func (s *symbols) has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, seen := s.known[name]
	if !seen {
		ok = s.lib.Extensions().LookupSymbol(name) == nil
		s.known[name] = ok
	}
	return ok
}
