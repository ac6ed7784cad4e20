package exec

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunCapturesOutputAndExitCode(t *testing.T) {
	r := New(5 * time.Second)
	res, err := r.Run(context.Background(), "sh", "-c", "echo out; echo err >&2; exit 7")
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := string(res.Stdout); got != "out\n" {
		t.Errorf("stdout = %q", got)
	}
	if got := string(res.Stderr); got != "err\n" {
		t.Errorf("stderr = %q", got)
	}
	if res.ExitCode != 7 {
		t.Errorf("exit code = %d, want 7", res.ExitCode)
	}
}

func TestRunPassesArgvVerbatim(t *testing.T) {
	r := New(5 * time.Second)
	res, err := r.Run(context.Background(), "printf", "%s|", "$(id)", "a b", "--privileged")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(res.Stdout), "$(id)|a b|--privileged|"; got != want {
		t.Errorf("stdout = %q, want %q: arguments must never pass through a shell", got, want)
	}
}

func TestRunInheritsEnvironment(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nowhere.sock")
	res, err := New(5*time.Second).Run(context.Background(), "sh", "-c", "echo $DOCKER_HOST")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(res.Stdout)) != os.Getenv("DOCKER_HOST") {
		t.Errorf("child saw DOCKER_HOST=%q", res.Stdout)
	}
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := t.TempDir() + "/grandchild"
	r := New(300 * time.Millisecond)
	// The grandchild holds stdout open; only a group kill ends the call promptly.
	_, err := r.Run(context.Background(), "sh", "-c", "sleep 30 & echo $! > "+pidFile+"; wait")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid := strings.TrimSpace(string(b))
	// Poll: the kernel reaps the killed grandchild asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %s survived the timeout: %s", pid, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunCancelledContextIsNotTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(time.Minute).Run(ctx, "sleep", "10")
	if err == nil || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a cancellation error", err)
	}
}

func TestRunMissingProgram(t *testing.T) {
	_, err := New(time.Second).Run(context.Background(), "/nonexistent/docker", "ps")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/docker") {
		t.Fatalf("err = %v, want one naming the program", err)
	}
}

func TestStreamDeliversLinesUntilExit(t *testing.T) {
	var lines []string
	res, err := New(0).Stream(context.Background(), func(b []byte) { lines = append(lines, string(b)) },
		"sh", "-c", "echo one; echo two; echo bad >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(lines, ",") != "one,two" || res.ExitCode != 3 || string(res.Stderr) != "bad\n" {
		t.Fatalf("lines=%v res=%+v", lines, res)
	}
}

func TestStreamStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := New(0).Stream(ctx, func([]byte) { close(got) }, "sh", "-c", "echo ready; exec sleep 60")
		done <- err
	}()
	<-got
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("want an error after cancel")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream did not return after cancel")
	}
}

// TestChildDiesWithCaller: a caller killed by SIGKILL takes its calls with
// it. The caller is this test binary run again as a helper (below); its
// stream's child writes its pid, the helper is killed, the child must go.
func TestChildDiesWithCaller(t *testing.T) {
	pidFile := t.TempDir() + "/child"
	helper := osexec.Command(os.Args[0], "-test.run=^TestHelperCaller$")
	helper.Env = append(os.Environ(), "CW_EXEC_HELPER_PIDFILE="+pidFile)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid string
	deadline := time.Now().Add(10 * time.Second)
	for pid == "" {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid = strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			_ = helper.Process.Kill()
			t.Fatal("the helper's child never wrote its pid")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(mustAtoi(t, pid), syscall.SIGKILL)
			t.Fatalf("child %s outlived its caller by 5s: %s", pid, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHelperCaller is the caller TestChildDiesWithCaller kills: it streams
// from a child that writes its pid and sleeps (Run and Stream start their
// children alike). It does nothing when not run as that helper.
func TestHelperCaller(t *testing.T) {
	pidFile := os.Getenv("CW_EXEC_HELPER_PIDFILE")
	if pidFile == "" {
		return
	}
	_, _ = New(0).Stream(context.Background(), func([]byte) {}, "sh", "-c", "echo $$ > "+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile+"; exec sleep 60")
	t.Fatal("the stream ended before the helper was killed")
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
