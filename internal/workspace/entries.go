package workspace

import (
	"regexp"
	"strings"
	"sync"
)

// Kind says who writes a workspace entry and when, so that a command knows
// what it may read, wait for or remove.
type Kind string

// Kinds of entries.
const (
	// KindInput is written by submit before the job starts; the job only reads it.
	KindInput Kind = "input"
	// KindOutput is written by the job (or by the follower when the job left
	// none) for people and CI to read.
	KindOutput Kind = "output"
	// KindState is noderun's own bookkeeping while the job runs.
	KindState Kind = "state"
)

// Entry is one file or directory that a job writes in its workspace.
type Entry struct {
	// Path is relative to the workspace and slash-separated. A part in angle
	// brackets stands for a value: <role>, <rank>, <node>, <job>, <attempt>.
	Path string
	Dir  bool
	Kind Kind
	// Common marks a name other tools use too: CI's $WORKSPACE may hold a
	// results/ or logs/ of its own.
	Common bool
	// What says what it is, in a phrase.
	What string
}

// The entries that Layout names. Each name is written here once; Layout's
// methods fill in the values.
var (
	specFile    = Entry{Path: "job.json", Kind: KindInput, What: "the job spec, the only hand-over from submit to the job"}
	testList    = Entry{Path: "test_list.txt", Kind: KindInput, What: "the test id, as the TensorRT-LLM tooling reads it"}
	waives      = Entry{Path: "waives.txt", Kind: KindInput, What: "pytest's --waives-file in TensorRT-LLM mode (may be empty)"}
	sbatchStub  = Entry{Path: "job.sbatch", Kind: KindInput, What: "the batch stub that sbatch runs"}
	binary      = Entry{Path: "bin/noderun", Kind: KindInput, What: "a copy of the submitting noderun, so that every node runs that version"}
	jobResult   = Entry{Path: "job-result.json", Kind: KindOutput, What: "the verdict and each step's outcome, written by the job last"}
	results     = Entry{Path: "results.xml", Kind: KindOutput, What: "the merged junit of every task"}
	summary     = Entry{Path: "summary.md", Kind: KindOutput, What: "the merge's summary for people"}
	report      = Entry{Path: "report.html", Kind: KindOutput, What: "the job seen at a glance: outcome, root cause, timeline, GPU charts; one self-contained file"}
	telemetry   = Entry{Path: "telemetry/<role>/rank<rank>.jsonl", Kind: KindOutput, What: "one task's GPU samples and events, one JSON object a line"}
	resultsDir  = Entry{Path: "results", Dir: true, Kind: KindOutput, Common: true, What: "the junit files of the pytest tasks"}
	junitFile   = Entry{Path: "results/<role>/rank<rank>.xml", Kind: KindOutput, What: "the junit file of one pytest task"}
	logsDir     = Entry{Path: "logs", Dir: true, Kind: KindOutput, Common: true, What: "every log of the job"}
	roleLogs    = Entry{Path: "logs/<role>", Dir: true, Kind: KindOutput, What: "the logs of one step"}
	taskLog     = Entry{Path: "logs/<role>/rank<rank>.log", Kind: KindOutput, What: "the output of one task's child"}
	runnerLog   = Entry{Path: "logs/<role>/runner-rank<rank>.log", Kind: KindOutput, What: "one task's runner: its log lines and errors from before the child started"}
	stepLog     = Entry{Path: "logs/<role>/srun.log", Kind: KindOutput, What: "the output of the step's srun itself"}
	setupLog    = Entry{Path: "logs/setup/<node>.log", Kind: KindOutput, What: "the output of the once-per-node setup"}
	batchOutput = Entry{Path: "slurm-<job>.out", Kind: KindOutput, What: "the output of the batch step, written by Slurm"}
	stateDir    = Entry{Path: ".noderun", Dir: true, Kind: KindState, What: "noderun's bookkeeping"}
	ownerFile   = Entry{Path: ".noderun/owner.json", Kind: KindState, What: "the job that owns the workspace (job id, submission id, host, time), claimed by submit before it writes anything, the job id added when sbatch returns"}
	cancelNote  = Entry{Path: ".noderun/cancel.json", Kind: KindState, What: "who cancelled the job through noderun (user@host, why, time), for its result to say"}
	tasksDir    = Entry{Path: ".noderun/tasks", Dir: true, Kind: KindState, What: "the task records"}
	taskRecord  = Entry{Path: ".noderun/tasks/<role>/<rank>.json", Kind: KindState, What: "one task's record: where and how it ran and ended"}
	stopFile    = Entry{Path: ".noderun/stop/<attempt>/<role>", Kind: KindState, What: "asks every task of a step to stop calmly"}
	fenceDir    = Entry{Path: ".noderun/fence/<attempt>/<role>", Dir: true, Kind: KindState, What: "the start markers of one step in one attempt"}
	attemptDir  = Entry{Path: ".noderun/attempts/<attempt>", Dir: true, Kind: KindState, What: "what an earlier attempt of a requeued job left: its task records, results and logs"}
)

// entries is the one list of everything a job writes in its workspace,
// each directory before what it holds.
var entries = []Entry{
	specFile,
	testList,
	waives,
	sbatchStub,
	{Path: "bin", Dir: true, Kind: KindInput, What: "the binaries the job runs"},
	binary,
	jobResult,
	results,
	summary,
	report,
	{Path: "telemetry", Dir: true, Kind: KindOutput, What: "the GPU telemetry of every task"},
	{Path: "telemetry/<role>", Dir: true, Kind: KindOutput, What: "the GPU telemetry of one step"},
	telemetry,
	resultsDir,
	{Path: "results/<role>", Dir: true, Kind: KindOutput, What: "the junit files of one step"},
	junitFile,
	logsDir,
	{Path: "logs/setup", Dir: true, Kind: KindOutput, What: "the setup logs"},
	setupLog,
	roleLogs,
	taskLog,
	runnerLog,
	stepLog,
	batchOutput,
	{Path: "report.csv", Kind: KindOutput, Common: true, What: "the deciding role's CSV report in TensorRT-LLM mode"},
	{Path: "timeout_data_step<step>_rank<rank>.jsonl", Kind: KindOutput, What: "a task's timeout record in TensorRT-LLM mode"},
	stateDir,
	ownerFile,
	cancelNote,
	tasksDir,
	{Path: ".noderun/tasks/<role>", Dir: true, Kind: KindState, What: "the task records of one step"},
	taskRecord,
	{Path: ".noderun/stop", Dir: true, Kind: KindState, What: "stop requests"},
	{Path: ".noderun/stop/<attempt>", Dir: true, Kind: KindState, What: "the stop requests of one attempt"},
	stopFile,
	{Path: ".noderun/fence", Dir: true, Kind: KindState, What: "start markers of the steps that wait for all their tasks"},
	{Path: ".noderun/fence/<attempt>", Dir: true, Kind: KindState, What: "the start markers of one attempt"},
	fenceDir,
	{Path: ".noderun/fence/<attempt>/<role>/go", Kind: KindState, What: "rank 0 saw every task arrive: the fence is open"},
	{Path: ".noderun/fence/<attempt>/<role>/<rank>", Kind: KindState, What: "a task of the step has started"},
	{Path: ".noderun/attempts", Dir: true, Kind: KindState, What: "what earlier attempts left"},
	attemptDir,
}

// Entries returns the list of every file and directory a job writes in its
// workspace, each directory before what it holds.
func Entries() []Entry { return append([]Entry(nil), entries...) }

// placeholder is a part of a Path in angle brackets.
var placeholder = regexp.MustCompile(`<([a-z]+)>`)

// patterns match the entries' paths, in the order of entries, with one
// named group per placeholder. Compiled on first use: every task's runner
// starts this binary, and most never look a path up.
var patterns = sync.OnceValue(func() []*regexp.Regexp {
	res := make([]*regexp.Regexp, len(entries))
	for i, e := range entries {
		var b strings.Builder
		b.WriteString("^")
		last := 0
		for _, m := range placeholder.FindAllStringSubmatchIndex(e.Path, -1) {
			b.WriteString(regexp.QuoteMeta(e.Path[last:m[0]]))
			b.WriteString("(?P<" + e.Path[m[2]:m[3]] + ">[^/]+)")
			last = m[1]
		}
		b.WriteString(regexp.QuoteMeta(e.Path[last:]) + "$")
		res[i] = regexp.MustCompile(b.String())
	}
	return res
})

// Lookup finds the entry that rel, a slash-separated path relative to the
// workspace, belongs to, by its name alone.
func Lookup(rel string) (Entry, bool) {
	for i, re := range patterns() {
		if re.MatchString(rel) {
			return entries[i], true
		}
	}
	return Entry{}, false
}

// match returns the values of e's placeholders in rel, or nil when rel is
// not e's.
func match(e Entry, rel string) map[string]string {
	for i := range entries {
		if entries[i].Path != e.Path {
			continue
		}
		m := patterns()[i].FindStringSubmatch(rel)
		if m == nil {
			return nil
		}
		vals := map[string]string{}
		for k, name := range patterns()[i].SubexpNames() {
			if name != "" {
				vals[name] = m[k]
			}
		}
		return vals
	}
	return nil
}

// expand fills e's placeholders from vals, given as name, value pairs.
func expand(e Entry, vals ...string) string {
	var b strings.Builder
	rest := e.Path
	for {
		i := strings.IndexByte(rest, '<')
		j := strings.IndexByte(rest, '>')
		if i < 0 || j < i {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:i])
		name, v := rest[i+1:j], rest[i:j+1]
		for k := 0; k+1 < len(vals); k += 2 {
			if vals[k] == name {
				v = vals[k+1]
				break
			}
		}
		b.WriteString(v)
		rest = rest[j+1:]
	}
}
