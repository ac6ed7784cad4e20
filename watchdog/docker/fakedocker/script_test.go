package fakedocker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the docker CLI, so the tests below
// can exercise Main in real, separate processes (as testscript will) without
// depending on testscript here.
func TestMain(m *testing.M) {
	if os.Getenv("FAKEDOCKER_TEST_AS_DOCKER") == "1" {
		os.Exit(Main())
	}
	os.Exit(m.Run())
}

func dockerProc(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), append([]string{"FAKEDOCKER_TEST_AS_DOCKER=1", "WORK=" + dir}, env...)...)
	return cmd
}

func TestSubprocesses(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := dockerProc(dir, nil, "run", "-d", "--name", fmt.Sprint("c", i), "img").CombinedOutput(); err != nil {
				t.Errorf("run c%d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	out, err := dockerProc(dir, nil, "ps", "-q").Output()
	if err != nil || strings.Count(string(out), "\n") != 10 {
		t.Errorf("ps -q after concurrent runs: %v, %q", err, out)
	}

	// A hung call is logged first, holds no lock, and dies when killed.
	var stderr bytes.Buffer
	hung := dockerProc(dir, []string{"FAKEDOCKER_HANG_RM=1"}, "rm", "-f", "c1")
	hung.Stderr = &stderr
	if err := hung.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if out, err := dockerProc(dir, nil, "stop", "c2").CombinedOutput(); err != nil {
		t.Errorf("stop while another call hangs: %v: %s", err, out)
	}
	hung.Process.Signal(syscall.SIGTERM)
	var ee *exec.ExitError
	if err := hung.Wait(); !errors.As(err, &ee) {
		t.Errorf("hung rm ended with %v, want killed", err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "docker.log"))
	if !strings.Contains(string(log), "\nrm -f c1\n") {
		t.Errorf("hung call not logged:\n%s", log)
	}

	// State-file faults reach other processes and run out.
	dockerProc(dir, nil, "fake-fault", "info", "fail", "Cannot connect to the Docker daemon", "1").Run()
	out, err = dockerProc(dir, nil, "info").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "Cannot connect") {
		t.Errorf("faulted info: %v, %q", err, out)
	}
	if out, err := dockerProc(dir, nil, "info").CombinedOutput(); err != nil {
		t.Errorf("info after the fault ran out: %v: %s", err, out)
	}
}
