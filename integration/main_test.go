// Package integration holds end-to-end tests against real servers: MariaDB
// and PostgreSQL sandboxes, the kfake broker, and the tributary binary
// itself for crash tests. The harness that starts the servers is
// integration/harness.
package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the tributary command built once for the tests that run it as a
// child process (kill -9, exit codes).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tributary-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tributary")
	build := exec.Command("go", "build", "-o", binary, "github.com/tributary-dev/tributary/cmd/tributary")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tributary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
