package noderun

import (
	"sort"
	"strings"

	"github.com/rs/zerolog"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/redact"
)

// launcherPrefixes are the variables that make pytest (through mpi4py or
// TRT-LLM's MPI session) believe it is part of an MPI world. Servers, the
// benchmark and single-node jobs must not see them: pytest would initialise
// MPI and fail.
var launcherPrefixes = []string{"PMI", "PMIX", "MPI", "OMPI", "SLURM"}

// keptLauncherVars survive the strip: the test code reads the rank from it.
var keptLauncherVars = map[string]bool{"SLURM_PROCID": true}

// environ is an environment in which later entries replace earlier ones.
// It lists its entries sorted by name, so that the child's env is the same
// on every run whatever order the variables were set in.
type environ struct {
	values map[string]string
}

func newEnviron(entries []string) *environ {
	e := &environ{values: map[string]string{}}
	for _, kv := range entries {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		e.Set(name, value)
	}
	return e
}

// Lookup returns a variable's value.
func (e *environ) Lookup(name string) (string, bool) {
	v, ok := e.values[name]
	return v, ok
}

// Set adds or replaces a variable; the value is literal.
func (e *environ) Set(name, value string) { e.values[name] = value }

// Unset removes a variable.
func (e *environ) Unset(name string) { delete(e.values, name) }

// names returns the variables' names, sorted.
func (e *environ) names() []string {
	names := make([]string, 0, len(e.values))
	for n := range e.values {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StripLauncher removes every PMI*, PMIX*, MPI*, OMPI*, SLURM* variable
// except SLURM_PROCID and returns the names removed.
func (e *environ) StripLauncher() []string {
	var removed []string
	for _, name := range e.names() {
		if keptLauncherVars[name] {
			continue
		}
		for _, p := range launcherPrefixes {
			if strings.HasPrefix(name, p) {
				e.Unset(name)
				removed = append(removed, name)
				break
			}
		}
	}
	return removed
}

// PrependPath puts dirs in front of a colon-separated list variable.
func (e *environ) PrependPath(name string, dirs []string) {
	if len(dirs) == 0 {
		return
	}
	parts := append([]string(nil), dirs...)
	if old, ok := e.values[name]; ok && old != "" {
		parts = append(parts, old)
	}
	e.Set(name, strings.Join(parts, ":"))
}

// Entries returns NAME=value entries for exec, sorted by name.
func (e *environ) Entries() []string {
	names := e.names()
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, n+"="+e.values[n])
	}
	return out
}

// Apply sets the command's env entries in order, after removing its unset list.
func (e *environ) Apply(c jobspec.Command) {
	for _, n := range c.Unset {
		e.Unset(n)
	}
	for _, v := range c.Env {
		e.Set(v.Name, v.Value)
	}
	e.PrependPath("LD_LIBRARY_PATH", c.LDLibraryPath)
}

// LogDump writes the environment at debug level, one field per variable,
// sorted, with the values of secret-looking names redacted.
func (e *environ) LogDump(log zerolog.Logger) {
	if log.GetLevel() > zerolog.DebugLevel {
		return
	}
	d := zerolog.Dict()
	for _, n := range e.names() {
		d = d.Str(n, redact.Value(n, e.values[n]))
	}
	log.Debug().Dict("env", d).Msg("child environment")
}
