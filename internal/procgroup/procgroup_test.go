package procgroup

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunning(t *testing.T) {
	if !Running(os.Getpid()) {
		t.Error("this process is not running?")
	}
	// An exited child not yet waited for is a zombie: not running.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for Running(pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited, unreaped child still counts as running")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Wait()
	if Running(pid) {
		t.Error("a reaped child counts as running")
	}
}

// startReady starts script in its own group and returns once it printed
// its first line, so that its traps are in place before a test signals it.
func startReady(t *testing.T, script string) (*Group, string) {
	t.Helper()
	return startCmdReady(t, exec.Command("sh", "-c", script))
}

// startCmdReady starts cmd in its own group, killed at the test's end, and
// returns its first line of output. The pipe is the test's own, not
// StdoutPipe's: the group's Wait would close that one as soon as a quick
// child exits, maybe before its line is read.
func startCmdReady(t *testing.T, cmd *exec.Cmd) (*Group, string) {
	t.Helper()
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout = w
	g, err := Start(cmd)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Signal(syscall.SIGKILL) })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the child's first line: %v", err)
	}
	return g, strings.TrimSpace(line)
}

// A helper process for TestStopSequence: the test binary itself, which
// ignores the signals named in its env, says ready and sleeps. A shell would
// race: dash catches SIGINT itself and loses it between fork and exec.
const helperEnv = "PROCGROUP_TEST_IGNORE"

func TestHelperProcess(t *testing.T) {
	ignore, ok := os.LookupEnv(helperEnv)
	if !ok {
		t.Skip("runs only as TestStopSequence's child")
	}
	for _, f := range strings.Fields(ignore) {
		n, _ := strconv.Atoi(f)
		signal.Ignore(syscall.Signal(n))
	}
	fmt.Println("ready")
	time.Sleep(30 * time.Second)
	os.Exit(0)
}

// startIgnoring starts the helper process in its own group, deaf to ignore,
// and returns once its signal dispositions are in place.
func startIgnoring(t *testing.T, ignore ...syscall.Signal) *Group {
	t.Helper()
	var nums []string
	for _, sig := range ignore {
		nums = append(nums, strconv.Itoa(int(sig)))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(nums, " "))
	g, line := startCmdReady(t, cmd)
	if line != "ready" {
		t.Fatalf("the helper's first line: %q", line)
	}
	return g
}

// A supervisor started with SIGINT ignored (a script's background job, a CI
// runner) must not pass that on: the calm stop's SIGINT has to reach pytest.
// The test binary runs itself again, started the way such a job is.
func TestChildrenHearStopSignals(t *testing.T) {
	if os.Getenv(deafEnv) == "" {
		cmd := exec.Command("sh", "-c", `trap "" INT HUP; exec "$0" -test.run="^TestChildrenHearStopSignals$"`, os.Args[0])
		cmd.Env = append(os.Environ(), deafEnv+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	if !signal.Ignored(syscall.SIGINT) {
		t.Fatal("the test process was meant to start with SIGINT ignored")
	}
	g, line := startCmdReady(t, exec.Command("grep", "^SigIgn:", "/proc/self/status"))
	<-g.Done()
	mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "SigIgn:")), 16, 64)
	if err != nil {
		t.Fatalf("child's SigIgn line %q: %v", line, err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP} {
		if mask&(1<<(sig-1)) != 0 {
			t.Errorf("the child inherited %s ignored (SigIgn %x)", SignalName(sig), mask)
		}
	}
}

const deafEnv = "PROCGROUP_TEST_STARTED_DEAF"

func TestStopSequence(t *testing.T) {
	const grace = time.Second
	tests := []struct {
		name      string
		ignore    []syscall.Signal // what the child ignores
		first     syscall.Signal
		wantSig   syscall.Signal   // what the leader died of
		wantSteps []syscall.Signal // the sequence's later signals
		minTook   time.Duration    // the sequence cannot have ended earlier
	}{
		// The supervisor's calm stop: pytest ends on its one SIGINT (a long
		// grace: on a busy machine the child may take a while to die, and no
		// escalation may come first).
		{"SIGINT obeyed", nil, syscall.SIGINT, syscall.SIGINT, nil, 0},
		// A child deaf to SIGINT gets SIGTERM halfway, before any SIGKILL.
		{"SIGINT ignored", []syscall.Signal{syscall.SIGINT}, syscall.SIGINT, syscall.SIGTERM, []syscall.Signal{syscall.SIGTERM}, grace / 2},
		// Deaf to both: SIGKILL of the group at the end of the grace.
		{"SIGINT and SIGTERM ignored", []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}, syscall.SIGINT, syscall.SIGKILL, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, grace},
		// A stop that began with SIGTERM goes straight to SIGKILL: no second TERM.
		{"SIGTERM ignored", []syscall.Signal{syscall.SIGTERM}, syscall.SIGTERM, syscall.SIGKILL, []syscall.Signal{syscall.SIGKILL}, grace},
		{"SIGHUP ignored", []syscall.Signal{syscall.SIGHUP}, syscall.SIGHUP, syscall.SIGKILL, []syscall.Signal{syscall.SIGKILL}, grace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startIgnoring(t, tc.ignore...)
			var steps []syscall.Signal
			start := time.Now()
			grace := grace
			if tc.wantSteps == nil {
				grace = 20 * time.Second
			}
			stopped := g.Stop(tc.first, grace, func(sig syscall.Signal) { steps = append(steps, sig) })
			select {
			case <-stopped:
			case <-time.After(30 * time.Second):
				t.Fatal("the stop sequence did not end")
			}
			took := time.Since(start)
			if r := g.Result(); r.Signal != tc.wantSig || r.ExitCode != 128+int(tc.wantSig) {
				t.Errorf("result %+v, want death by %s", r, SignalName(tc.wantSig))
			}
			if fmt.Sprint(steps) != fmt.Sprint(tc.wantSteps) {
				t.Errorf("escalations %v, want %v", steps, tc.wantSteps)
			}
			if took < tc.minTook {
				t.Errorf("ended after %s, before the sequence could have reached %v", took, tc.wantSig)
			}
		})
	}
}

// Only the first Stop sets the schedule; a later one sends its signal at
// once and returns the same channel.
func TestStopTwice(t *testing.T) {
	g, _ := startReady(t, `trap "" INT; echo ready; sleep 30`)
	first := g.Stop(syscall.SIGINT, time.Minute, nil)
	second := g.Stop(syscall.SIGTERM, time.Minute, func(syscall.Signal) { t.Error("a later Stop escalated") })
	if first != second {
		t.Error("a second Stop started a second sequence")
	}
	select {
	case <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("the later SIGTERM was not sent at once")
	}
	if r := g.Result(); r.Signal != syscall.SIGTERM {
		t.Errorf("result %+v, want death by the later SIGTERM", r)
	}
}

// A leader that ends on the stop signal leaves no process of its group
// behind, though the grace is far from over.
func TestStopKillsLeftoversWhenTheLeaderExits(t *testing.T) {
	// Background jobs of a non-interactive shell ignore SIGINT.
	g, line := startReady(t, `trap "exit 0" INT; sleep 100 & echo $!; wait`)
	grandchild, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", line, err)
	}
	select {
	case <-g.Stop(syscall.SIGINT, time.Minute, func(sig syscall.Signal) { t.Errorf("escalated to %v", sig) }):
	case <-time.After(30 * time.Second):
		t.Fatal("the stop waited for the grace instead of the leader")
	}
	if r := g.Result(); r.ExitCode != 0 {
		t.Errorf("result %+v, want the leader's own exit 0", r)
	}
	waitGone(t, grandchild)
}

// A leader and a grandchild that both ignore SIGTERM are killed at the end
// of the grace.
func TestStopKillsTheGroup(t *testing.T) {
	g, line := startReady(t, `trap "" TERM; sleep 100 & echo $!; wait`)
	grandchild, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", line, err)
	}
	<-g.Stop(syscall.SIGTERM, 200*time.Millisecond, nil)
	if r := g.Result(); r.Signal != syscall.SIGKILL || r.ExitCode != 137 {
		t.Errorf("result %+v, want killed by SIGKILL (137)", r)
	}
	waitGone(t, grandchild)
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for Running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d of the group survived the stop", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
