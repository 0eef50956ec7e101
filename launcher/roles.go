package launcher

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/noderun/noderun/internal/jobspec"
	"github.com/noderun/noderun/internal/redact"
)

// WriteRoles prints what each role's child receives, secrets redacted: the
// argv (launcher first), the working directory, the environment the spec
// sets, the variables the runner computes, and the files the role writes
// besides its junit and logs. The CI environment of submit reaches every
// role as well and is not repeated here.
func (p *Prepared) WriteRoles(w io.Writer) error {
	bw := bufio.NewWriter(w)
	ws := p.Workspace
	fmt.Fprintln(bw, "\nEvery role also inherits the environment of submit (sbatch and srun --export=ALL).")
	for _, st := range p.Spec.Steps {
		argv := st.Command.Argv
		if st.Pytest {
			argv = st.ArgvWithJunit(filepath.Join(filepath.Dir(ws.Junit(st.Role, 0)), "rank<SLURM_PROCID>.xml"))
		}
		argv = append(append([]string(nil), st.Launcher...), argv...)
		fmt.Fprintf(bw, "\n%s (%s, %d task(s))\n", st.Role, st.Kind, st.Tasks)
		fmt.Fprintf(bw, "  argv: %s\n", strings.Join(quoteWords(redact.Args(argv)), " "))
		fmt.Fprintf(bw, "  dir:  %s\n", st.Command.Dir)
		env := []string{}
		if role, ok := p.Spec.ServingType(&st); ok {
			env = append(env, jobspec.EnvServingType+"="+role)
		}
		for _, e := range st.Command.Env {
			env = append(env, e.Name+"="+redact.Value(e.Name, e.Value))
		}
		for _, n := range st.TaskEnv {
			v, _ := jobspec.TaskEnvValue(n, jobspec.TaskIdentity{Workspace: ws.Dir, ProcID: -1, LocalID: -1})
			env = append(env, n+"="+v)
		}
		fmt.Fprintf(bw, "  env:  %s\n", strings.Join(quoteWords(env), " "))
		switch {
		case len(st.Launcher) > 0:
			fmt.Fprintln(bw, "        Slurm/MPI variables kept for the launcher, which removes them for rank 0's pytest")
		case p.Spec.StripsLauncherEnv(&st):
			fmt.Fprintln(bw, "        PMI*, PMIX*, MPI*, OMPI*, SLURM* removed except SLURM_PROCID")
		}
		if st.Log != "" {
			fmt.Fprintf(bw, "  log:  %s (every task's output)\n", st.Log)
		}
		if st.DoneFile != "" {
			fmt.Fprintf(bw, "  done: %s (touched when the step has ended)\n", st.DoneFile)
		}
	}
	return bw.Flush()
}

// quoteWords quotes the words that hold white space, for reading only.
func quoteWords(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		if strings.ContainsAny(w, " \t\n\"'") {
			w = fmt.Sprintf("%q", w)
		}
		out[i] = w
	}
	return out
}
