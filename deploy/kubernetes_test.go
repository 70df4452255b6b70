package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tributary-dev/tributary/config"
)

// manifest is one Kubernetes object, kept generic.
type manifest struct {
	file string
	obj  map[string]any
}

func (m manifest) kind() string { return str(m.obj, "kind") }
func (m manifest) name() string { return str(m.obj, "metadata", "name") }

// dig walks maps by key and lists by index.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := dig(v, path...).(string)
	return s
}

func list(v any, path ...any) []any {
	l, _ := dig(v, path...).([]any)
	return l
}

// readManifests decodes every document of every YAML file in dir except
// kustomization.yaml.
func readManifests(t *testing.T, dir string) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	var out []manifest
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if obj == nil {
				continue
			}
			m := manifest{file: filepath.Base(f), obj: obj}
			if str(obj, "apiVersion") == "" || m.kind() == "" || m.name() == "" {
				t.Errorf("%s: an object without apiVersion, kind or metadata.name", f)
			}
			out = append(out, m)
		}
	}
	return out
}

// configVars matches the ${VAR} and ${VAR:-default} references of a config.
var configVars = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// TestKubernetesManifests checks the manifests offline: every file is in
// the kustomization, every Deployment's image is set by it, readers run one
// pod at a time, probes and the scrape annotations use the port of the
// metrics.listen in the config the pod mounts, that config loads with
// config.ParseSource or ParseLake, and pods run non-root on a read-only
// root file system.
func TestKubernetesManifests(t *testing.T) {
	const dir = "kubernetes"
	var kust struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
		Images    []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
			Digest  string `yaml:"digest"`
		} `yaml:"images"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(kust.Resources, b) {
			t.Errorf("%s is not in kustomization.yaml's resources", b)
		}
	}
	images := map[string]bool{}
	for _, im := range kust.Images {
		if im.NewName == "" || (im.NewTag == "" && im.Digest == "") {
			t.Errorf("kustomization image %q: want newName and newTag or digest", im.Name)
		}
		images[im.Name] = true
	}

	objs := readManifests(t, dir)
	configMaps := map[string]map[string]any{}
	for _, m := range objs {
		if m.kind() == "ConfigMap" {
			configMaps[m.name()], _ = dig(m.obj, "data").(map[string]any)
		}
	}
	var readers, compactors int
	for _, m := range objs {
		if m.kind() != "Deployment" {
			continue
		}
		t.Run(m.name(), func(t *testing.T) {
			pod := dig(m.obj, "spec", "template", "spec")
			containers := list(pod, "containers")
			if len(containers) != 1 {
				t.Fatalf("%d containers, want 1", len(containers))
			}
			c := containers[0]
			if im := str(c, "image"); !images[im] && !strings.Contains(im, "/") {
				t.Errorf("image %q is neither set by kustomization.yaml nor a full reference", im)
			}
			args := list(c, "args")
			if len(args) != 3 || args[1] != "-c" {
				t.Fatalf("args %v, want [reader|compactor -c FILE]", args)
			}
			command, cfgPath := args[0].(string), args[2].(string)
			switch command {
			case "reader":
				readers++
				if r, _ := dig(m.obj, "spec", "replicas").(int); r != 1 {
					t.Errorf("a reader runs %v replicas, want 1 (a second one fences the first)", dig(m.obj, "spec", "replicas"))
				}
				if s := str(m.obj, "spec", "strategy", "type"); s != "Recreate" {
					t.Errorf("reader strategy %q, want Recreate (never two pods at once)", s)
				}
			case "compactor":
				compactors++
			default:
				t.Fatalf("command %q", command)
			}

			// The config file: a ConfigMap key mounted at cfgPath.
			var cfgText string
			for _, vm := range list(c, "volumeMounts") {
				if str(vm, "mountPath") != cfgPath {
					continue
				}
				for _, v := range list(pod, "volumes") {
					if str(v, "name") == str(vm, "name") {
						cm := configMaps[str(v, "configMap", "name")]
						cfgText, _ = cm[str(vm, "subPath")].(string)
					}
				}
			}
			if cfgText == "" {
				t.Fatalf("no ConfigMap key is mounted at %s", cfgPath)
			}
			// The config's ${VAR}s must come from the pod's environment.
			envFrom := len(list(c, "envFrom")) > 0
			env := map[string]bool{}
			for _, e := range list(c, "env") {
				env[str(e, "name")] = true
			}
			for _, v := range configVars.FindAllStringSubmatch(cfgText, -1) {
				if !env[v[1]] && !envFrom {
					t.Errorf("the config uses ${%s}, which the container's env does not set", v[1])
				}
				value := "placeholder"
				if strings.HasSuffix(v[1], "_URI") {
					value = "postgres://tributary@lake-catalog:5432/lake"
				}
				t.Setenv(v[1], value)
			}
			var listen string
			if command == "reader" {
				cfg, err := config.ParseSource(cfgPath, []byte(cfgText))
				if err != nil {
					t.Fatalf("config: %v", err)
				}
				listen = cfg.Metrics.Listen
			} else {
				cfg, err := config.ParseLake(cfgPath, []byte(cfgText))
				if err != nil {
					t.Fatalf("config: %v", err)
				}
				listen = cfg.Metrics.Listen
			}
			_, portText, ok := strings.Cut(listen, ":")
			port, err := strconv.Atoi(portText)
			if !ok || err != nil || strings.HasPrefix(listen, "127.") || strings.HasPrefix(listen, "localhost") {
				t.Fatalf("metrics.listen %q: want \":PORT\" (every interface, so the kubelet and Prometheus reach it)", listen)
			}

			portNames := map[string]int{}
			for _, p := range list(c, "ports") {
				n, _ := dig(p, "containerPort").(int)
				portNames[str(p, "name")] = n
				if n != port {
					t.Errorf("containerPort %d, metrics.listen port %d", n, port)
				}
			}
			for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
				if got := str(c, probe, "httpGet", "path"); got != path {
					t.Errorf("%s path %q, want %s", probe, got, path)
				}
				p := dig(c, probe, "httpGet", "port")
				if name, ok := p.(string); ok {
					p = portNames[name]
				}
				if p != port {
					t.Errorf("%s port %v, metrics.listen port %d", probe, dig(c, probe, "httpGet", "port"), port)
				}
			}
			ann := dig(m.obj, "spec", "template", "metadata", "annotations")
			if str(ann, "prometheus.io/scrape") != "true" || str(ann, "prometheus.io/port") != strconv.Itoa(port) || str(ann, "prometheus.io/path") != "/metrics" {
				t.Errorf("prometheus annotations %v, want scrape true, port %d, path /metrics", ann, port)
			}

			if dig(pod, "securityContext", "runAsNonRoot") != true {
				t.Error("pod securityContext.runAsNonRoot is not true")
			}
			if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
				t.Error("container securityContext: want readOnlyRootFilesystem true and allowPrivilegeEscalation false")
			}
			if !slices.Contains(list(c, "securityContext", "capabilities", "drop"), any("ALL")) {
				t.Error("container securityContext: capabilities are not dropped")
			}
			if g, _ := dig(pod, "terminationGracePeriodSeconds").(int); g < 30 {
				t.Errorf("terminationGracePeriodSeconds %d: give the drain time", g)
			}
		})
	}
	if readers == 0 || compactors == 0 {
		t.Errorf("%d reader and %d compactor Deployments, want both", readers, compactors)
	}
	// The unauthenticated admin endpoints share the metrics port: a
	// NetworkPolicy must cover every Deployment's pods.
	var policed []any
	for _, m := range objs {
		if m.kind() == "NetworkPolicy" {
			for _, e := range list(m.obj, "spec", "podSelector", "matchExpressions") {
				if str(e, "key") == "app.kubernetes.io/name" && str(e, "operator") == "In" {
					policed = append(policed, list(e, "values")...)
				}
			}
		}
	}
	for _, m := range objs {
		if m.kind() == "Deployment" && !slices.Contains(policed, any(str(m.obj, "spec", "template", "metadata", "labels", "app.kubernetes.io/name"))) {
			t.Errorf("no NetworkPolicy covers Deployment %s", m.name())
		}
	}
	for _, m := range objs {
		if m.kind() == "HorizontalPodAutoscaler" {
			if ref := str(m.obj, "spec", "scaleTargetRef", "name"); ref != "tributary-compactor" {
				t.Errorf("HPA %s scales %q, want the compactor", m.name(), ref)
			}
		}
	}

	t.Run("kustomize", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Log("kubectl is not installed: the kustomization was parsed, not built")
			return
		}
		out, err := exec.Command(kubectl, "kustomize", dir).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize: %v", err)
		}
		if !bytes.Contains(out, []byte("namespace: "+kust.Namespace)) {
			t.Errorf("the built manifests are not in namespace %s", kust.Namespace)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if im, ok := strings.CutPrefix(strings.TrimSpace(line), "image: "); ok && !strings.Contains(im, "/") {
				t.Errorf("built manifest has image %q, not a full reference", im)
			}
		}
	})
}
