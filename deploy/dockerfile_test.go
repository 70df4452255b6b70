package deploy

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDockerfile checks what the image promises (it cannot be built here:
// there is no Docker engine): a static binary, a final stage without a
// shell, a numeric non-root user (Kubernetes' runAsNonRoot checks only
// numbers), and an exec-form entrypoint that needs no shell.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // instructions per stage
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a build stage and a runtime stage, have %d stages", len(stages))
	}
	build := strings.Join(stages[0], "\n")
	if !strings.Contains(build, "CGO_ENABLED=0 go build") || !strings.Contains(build, "./cmd/tributary") {
		t.Error("the build stage does not build ./cmd/tributary with CGO_ENABLED=0")
	}
	final := stages[len(stages)-1]
	if !strings.Contains(final[0], "distroless/static") {
		t.Errorf("runtime stage %q: want a distroless static image (no shell, no libc)", final[0])
	}
	var user, entry string
	for _, l := range final {
		if u, ok := strings.CutPrefix(l, "USER "); ok {
			user = u
		}
		if e, ok := strings.CutPrefix(l, "ENTRYPOINT "); ok {
			entry = e
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root uid", user)
	}
	if !strings.HasPrefix(entry, `["`) {
		t.Errorf("ENTRYPOINT %s: want the exec form, which needs no shell", entry)
	}
	// The deployments run as the image's user.
	for _, f := range []string{"kubernetes/reader-orders.yaml", "kubernetes/reader-billing.yaml", "kubernetes/compactor.yaml"} {
		m, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(m, []byte("runAsUser: "+uid)) {
			t.Errorf("%s does not run as the image's uid %s", f, uid)
		}
	}
}
