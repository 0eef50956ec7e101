package workspace

import (
	"path"
	"path/filepath"
	"reflect"
	"testing"
)

// A path that Layout hands out but the list lacks would be missed by
// clearing, merging and the lifecycle commands alike.
func TestLayoutPathsAreListed(t *testing.T) {
	ws := New("/ws")
	// They take a path rather than name one; the test's output directory is
	// named by the test id, which ClearTestOutput handles.
	notNames := map[string]bool{"Resolve": true, "Rel": true, "TestOutput": true}
	typ := reflect.TypeOf(ws)
	checked := 0
	for i := 0; i < typ.NumMethod(); i++ {
		m := typ.Method(i)
		if notNames[m.Name] || m.Type.NumOut() != 1 || m.Type.Out(0).Kind() != reflect.String {
			continue
		}
		args := []reflect.Value{reflect.ValueOf(ws)}
		for k := 1; k < m.Type.NumIn(); k++ {
			switch m.Type.In(k).Kind() {
			case reflect.String:
				args = append(args, reflect.ValueOf("GEN_0"))
			case reflect.Int:
				args = append(args, reflect.ValueOf(3))
			default:
				t.Fatalf("%s takes a %s: teach this test to call it", m.Name, m.Type.In(k))
			}
		}
		got := m.Func.Call(args)[0].String()
		rel, err := filepath.Rel(ws.Dir, got)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := Lookup(filepath.ToSlash(rel)); !ok {
			t.Errorf("%s returns %s, which no entry lists", m.Name, got)
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("checked %d Layout methods, want every path method (20 or more)", checked)
	}
}

// The list is a tree: commands walk it from the top, and a directory's kind
// decides what happens to everything in it.
func TestEntriesFormATree(t *testing.T) {
	seen := map[string]Entry{}
	for _, e := range Entries() {
		if _, dup := seen[e.Path]; dup {
			t.Errorf("%s listed twice", e.Path)
		}
		seen[e.Path] = e
		switch e.Kind {
		case KindInput, KindOutput, KindState:
		default:
			t.Errorf("%s: unknown kind %q", e.Path, e.Kind)
		}
		if e.What == "" {
			t.Errorf("%s does not say what it is", e.Path)
		}
		dir := path.Dir(e.Path)
		if dir == "." {
			continue
		}
		parent, ok := seen[dir]
		switch {
		case !ok:
			t.Errorf("%s: its directory %s is not listed before it", e.Path, dir)
		case !parent.Dir:
			t.Errorf("%s: %s is not a directory", e.Path, dir)
		case parent.Kind != e.Kind:
			t.Errorf("%s is %s inside %s, which is %s", e.Path, e.Kind, dir, parent.Kind)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		rel  string
		want string // the entry's Path; "" for none
	}{
		{"job.json", "job.json"},
		{"results/GEN_0/rank12.xml", "results/<role>/rank<rank>.xml"},
		{"logs/CTX_1/runner-rank0.log", "logs/<role>/runner-rank<rank>.log"},
		{".noderun/fence/42.s1.1/GEN_0/3", ".noderun/fence/<attempt>/<role>/<rank>"},
		{"slurm-42.out", "slurm-<job>.out"},
		// Files of others beside ours are not ours, even under our directories.
		{"results/GEN_0/theirs.txt", ""},
		{"results/GEN_0/extra.xml", ""},
		{"logs/setup/n1.log", "logs/setup/<node>.log"},
		{"notes.txt", ""},
		// atomicfile's temporary files are never an entry.
		{".job.json.tmp-123", ""},
	}
	for _, tt := range tests {
		e, ok := Lookup(tt.rel)
		if ok != (tt.want != "") || e.Path != tt.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.rel, e.Path, ok, tt.want)
		}
	}
}

func TestJunitTask(t *testing.T) {
	ws := New("/ws")
	tests := []struct {
		path     string
		wantRole string
		wantRank int
		wantOK   bool
	}{
		{ws.Junit("GEN_0", 3), "GEN_0", 3, true},
		{"/ws/results/BENCHMARK/rank0.xml", "BENCHMARK", 0, true},
		// Only digits: a rank the runner never writes is someone else's file.
		{"/ws/results/GEN_0/rank-1.xml", "", 0, false},
		{"/ws/results/GEN_0/rank+1.xml", "", 0, false},
		{"/ws/results/GEN_0/sub/rank1.xml", "", 0, false},
		{"/ws/results/rank1.xml", "", 0, false},
		{"/elsewhere/results/GEN_0/rank1.xml", "", 0, false},
	}
	for _, tt := range tests {
		role, rank, ok := ws.JunitTask(tt.path)
		if role != tt.wantRole || rank != tt.wantRank || ok != tt.wantOK {
			t.Errorf("JunitTask(%s) = %q, %d, %v; want %q, %d, %v", tt.path, role, rank, ok, tt.wantRole, tt.wantRank, tt.wantOK)
		}
	}
}

func TestResolveAndRel(t *testing.T) {
	ws := New("/ws")
	if got := ws.Resolve("logs/GEN_0/rank0.log"); got != "/ws/logs/GEN_0/rank0.log" {
		t.Errorf("Resolve of a relative path = %s", got)
	}
	if got := ws.Resolve("/other/x.log"); got != "/other/x.log" {
		t.Errorf("Resolve of an absolute path = %s", got)
	}
	if got := ws.Rel(ws.TaskLog("GEN_0", 1)); got != "logs/GEN_0/rank1.log" {
		t.Errorf("Rel inside = %s", got)
	}
	if got := ws.Rel("/wsx/a.log"); got != "/wsx/a.log" {
		t.Errorf("Rel outside = %s", got)
	}
}
