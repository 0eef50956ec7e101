package junitmerge

import (
	"strconv"
	"strings"
)

// roleSuites builds the suites of one role: one per rank, or a single
// synthetic one when the role left nothing at all.
func (b *wsBuild) roleSuites(role string) []*Suite {
	tasks := b.sortedTasks(role)
	if len(tasks) == 0 {
		return nil
	}
	anything := false
	for _, t := range tasks {
		if t.rec != nil || !t.in.missing {
			anything = true
			break
		}
	}
	if !anything {
		return []*Suite{b.silentRole(role, len(tasks))}
	}
	var out []*Suite
	for _, t := range tasks {
		out = append(out, b.taskSuites(t)...)
	}
	return out
}

// taskSuites builds the suites of one task: its junit file's suites, named
// after the task, plus synthetic testcases for what went wrong.
func (b *wsBuild) taskSuites(t *task) []*Suite {
	rec, in := t.rec, t.in
	base := t.role + "/rank" + strconv.Itoa(t.rank)
	host := ""
	switch {
	case rec != nil && rec.Host != "":
		host = rec.Host
	case rec != nil && rec.Node != "":
		host = rec.Node
	case len(in.suites) > 0:
		host = in.suites[0].Hostname
	}
	if host != "" {
		base += "@" + host
	}
	suites := in.suites
	nameSuites(suites, base)
	b.qualifyCases(t, suites)

	classname := "noderun." + t.role + ".rank" + strconv.Itoa(t.rank)
	synth := b.taskCases(t, classname)
	b.groupFailure(t, synth)
	if len(synth) > 0 {
		if len(suites) == 1 {
			suites[0].Cases = append(suites[0].Cases, synth...)
		} else {
			s := &Suite{Name: base, Cases: synth}
			if rec != nil {
				s.Time = Seconds(rec.Duration())
			}
			suites = append([]*Suite{s}, suites...)
		}
	}
	props := b.taskProperties(t, host)
	for _, s := range suites {
		s.role = t.role
		if host != "" {
			s.Hostname = cleanText(host)
		}
		if s.Timestamp == "" && rec != nil && !rec.Start.IsZero() {
			s.Timestamp = rec.Start.UTC().Format("2006-01-02T15:04:05")
		}
		if s.Properties == nil {
			s.Properties = &Properties{}
		}
		s.Properties.Property = append(s.Properties.Property, props...)
	}
	return suites
}

// taskProperties describe the task on each of its suites, so that Jenkins
// shows where a rank ran.
func (b *wsBuild) taskProperties(t *task, host string) []Property {
	props := []Property{
		{Name: "noderun.role", Value: cleanText(t.role)},
		{Name: "noderun.rank", Value: strconv.Itoa(t.rank)},
	}
	if host != "" {
		props = append(props, Property{Name: "noderun.host", Value: cleanText(host)})
	}
	if rec := t.rec; rec != nil {
		props = append(props,
			Property{Name: "noderun.state", Value: cleanText(rec.State)},
			Property{Name: "noderun.exit_code", Value: strconv.Itoa(rec.ExitCode)})
		if len(rec.GPUs) > 0 {
			props = append(props, Property{Name: "noderun.gpus", Value: cleanText(strings.Join(rec.GPUs, ","))})
		}
		props = append(props, gpuProperties(rec.GPU, b.ws.Rel(b.ws.Telemetry(t.role, t.rank)))...)
	}
	if !t.in.missing {
		props = append(props, Property{Name: "noderun.junit", Value: cleanText(b.ws.Rel(t.junit))})
	}
	return props
}
