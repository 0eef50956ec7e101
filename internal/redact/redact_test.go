package redact

import (
	"bytes"
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	for name, secret := range map[string]bool{
		"HF_TOKEN": true, "AWS_SECRET_ACCESS_KEY": true, "DB_PASSWORD": true, "API_KEY": true,
		"GOOGLE_APPLICATION_CREDENTIALS": true, "PATH": false, "SLURM_JOB_ID": false,
	} {
		if got := Value(name, "v") == Placeholder; got != secret {
			t.Errorf("%s redacted=%v, want %v", name, got, secret)
		}
	}
	if v := Value("HTTPS_PROXY", "http://u:secret@p:1"); strings.Contains(v, "secret") {
		t.Errorf("URL credentials in a value were kept: %s", v)
	}
	// A setup command passed through the environment (NODERUN_SETUP)
	// holds its secrets as words.
	if v := Value("NODERUN_SETUP", "env SETUP_TOKEN=abc true"); v != "env SETUP_TOKEN=<redacted> true" {
		t.Errorf("an assignment inside a value was kept: %s", v)
	}
}

func TestArgs(t *testing.T) {
	argv := []string{"pytest", "--hf-token=abc", "--api-key", "xyz", "--proxy=http://u:p@proxy:3128",
		"https://user:pw@git.example.com/x.git", "perf/x.py::t[a-b]"}
	got := Args(argv)
	want := []string{"pytest", "--hf-token=<redacted>", "--api-key", "<redacted>", "--proxy=http://<redacted>@proxy:3128",
		"https://<redacted>@git.example.com/x.git", "perf/x.py::t[a-b]"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Args = %q\nwant %q", got, want)
	}
	if argv[1] != "--hf-token=abc" {
		t.Error("Args changed its input")
	}
}

func TestArgsAssignments(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		// --setup 'env SETUP_TOKEN=… true' reaches the runner as these words.
		{"bare word", []string{"env", "HF_TOKEN=abc", "true"}, []string{"env", "HF_TOKEN=<redacted>", "true"}},
		// A shell string holds several assignments; quoted values go whole.
		{"shell string", []string{"sh", "-c", `export A_KEY='x y'; B=1 C_PASSWORD="p q" run`},
			[]string{"sh", "-c", `export A_KEY=<redacted>; B=1 C_PASSWORD=<redacted> run`}},
		// pytest's -o ini=value override, and a name that marks nothing.
		{"option with assignment", []string{"-oAPI_TOKEN=s", "-o", "timeout=5", "MODE=fast"},
			[]string{"-oAPI_TOKEN=<redacted>", "-o", "timeout=5", "MODE=fast"}},
		// Query parameters are assignments too.
		{"url query", []string{"http://h/x?api_key=s&v=1"}, []string{"http://h/x?api_key=<redacted>&v=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Args(tc.in); strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") {
				t.Errorf("Args(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestKnown(t *testing.T) {
	k := FromEnviron([]string{"HF_TOKEN=hf_abcdef", "PATH=/usr/bin", "SHORT_KEY=1", `Q_SECRET=a"b\c`})
	k.AddArgs([]string{"env", "SETUP_TOKEN='set up'", "--api-key", "apikey1", "--x-password=pw12345", "MODE=fastmode"})
	k.Add("hf_abcdef_longer")
	tests := []struct{ name, in, want string }{
		{"env value", "token hf_abcdef used", "token <redacted> used"},
		// The longer value is not left with a tail.
		{"longer first", "hf_abcdef_longer", "<redacted>"},
		{"not secret", "/usr/bin and fastmode", "/usr/bin and fastmode"},
		// "1" would blank every digit one.
		{"short value", "exit 1", "exit 1"},
		{"args", "set up apikey1 pw12345", "<redacted> <redacted> <redacted>"},
		// As a JSON log line writes it.
		{"json escaped", `{"v":"a\"b\\c"}`, `{"v":"<redacted>"}`},
	}
	for _, tc := range tests {
		if got := k.String(tc.in); got != tc.want {
			t.Errorf("%s: String(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	var b bytes.Buffer
	w := k.Writer(&b)
	k.Add("added-later")
	if n, err := w.Write([]byte("hf_abcdef added-later\n")); err != nil || n != 22 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b.String() != "<redacted> <redacted>\n" {
		t.Errorf("Writer wrote %q", b.String())
	}
	var none *Known
	if none.String("hf_abcdef") != "hf_abcdef" {
		t.Error("a nil Known hid something")
	}
}
