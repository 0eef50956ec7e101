package logging

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/noderun/noderun/internal/redact"
)

// A pipe gets the console format without colour codes; durations carry their
// unit; empty fields are left out; where a line comes from is said first.
func TestConsoleOnAPipe(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, FormatConsole, "info", nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Str("a", "x").Str("reason", "").Str("node", "n1").Int("rank", 1).Str("role", "GEN_0").
		Dur("took", 1190*time.Millisecond).Msg("step ended")
	got := buf.String()
	if strings.Contains(got, "\x1b[") {
		t.Errorf("colour codes on a pipe: %q", got)
	}
	if !strings.Contains(got, "step ended role=GEN_0 rank=1 node=n1 a=x took=1.19s") {
		t.Errorf("line %q: want the message, then role, rank and node, then the other fields, durations with units", got)
	}
	if strings.Contains(got, "reason") {
		t.Errorf("an empty field is printed: %q", got)
	}
}

// JSON is for programs; durations are strings with a unit there too.
func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, FormatJSON, "info", nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Dur("took", 30*time.Second).Msg("m")
	if !strings.Contains(buf.String(), `"took":"30s"`) {
		t.Errorf("JSON line %q", buf.String())
	}
}

// A secret value of the environment never reaches a log line, in either
// format, whatever field carries it.
func TestNewHidesKnownSecrets(t *testing.T) {
	for _, format := range []string{FormatConsole, FormatJSON} {
		var buf bytes.Buffer
		log, err := New(&buf, format, "info", redact.FromEnviron([]string{"HF_TOKEN=hf_logged_secret"}))
		if err != nil {
			t.Fatal(err)
		}
		log.Info().Str("argv", "pytest --x hf_logged_secret").Msg("child started")
		if strings.Contains(buf.String(), "hf_logged_secret") || !strings.Contains(buf.String(), "child started") {
			t.Errorf("%s: %q", format, buf.String())
		}
	}
}
