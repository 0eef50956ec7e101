package redact

import (
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
