package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

// pkg is the part of `go list -json` output the checks read.
type pkg struct {
	ImportPath   string
	Name         string
	Doc          string
	Standard     bool
	Imports      []string // direct, non-test
	Deps         []string // transitive, non-test
	TestImports  []string
	XTestImports []string
	Module       *struct{ Path string }
	Error        *struct{ Err string }
}

// module is the loaded module: its path and packages, with every
// dependency (standard library included) so that imports can be classified.
type module struct {
	path string
	own  []*pkg          // the module's packages, sorted by import path
	all  map[string]*pkg // every package in the dependency graph
}

var (
	loadOnce sync.Once
	loaded   *module
	loadErr  error
)

// load runs `go list -deps -json ./...` from the module root once.
func load(t *testing.T) *module {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = goList() })
	if errors.Is(loadErr, exec.ErrNotFound) {
		t.Skipf("go command not available: %v", loadErr)
	}
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

func goList() (*module, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Path}}\n{{.Dir}}").Output()
	if err != nil {
		return nil, cmdErr("go list -m", err)
	}
	path, dir, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	cmd := exec.Command(goCmd, "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = dir
	out, err = cmd.Output()
	if err != nil {
		return nil, cmdErr("go list -deps -json ./...", err)
	}
	m := &module{path: path, all: make(map[string]*pkg)}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		m.all[p.ImportPath] = p
		if p.Module != nil && p.Module.Path == path {
			m.own = append(m.own, p)
		}
	}
	slices.SortFunc(m.own, func(a, b *pkg) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	return m, nil
}

func cmdErr(what string, err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return errors.New(what + ": " + err.Error() + "\n" + string(ee.Stderr))
	}
	return errors.New(what + ": " + err.Error())
}

// rel returns path relative to the module ("plugin", "internal/router"), and
// whether path is in the module at all.
func (m *module) rel(path string) (string, bool) {
	if path == m.path {
		return ".", true
	}
	r, ok := strings.CutPrefix(path, m.path+"/")
	return r, ok
}

// std reports whether path is in the standard library. Test-only imports are
// not in the -deps graph; for those the first element having no dot decides,
// which is the rule the go command itself applies.
func (m *module) std(path string) bool {
	if p, ok := m.all[path]; ok {
		return p.Standard
	}
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// isTestHelper reports whether rel is a package of test helpers, which may
// import testing and are imported only from tests.
func isTestHelper(rel string) bool {
	return strings.HasSuffix(rel, "test") && rel != "internal/archtest"
}

// Which imports a rule looks at.
func deps(p *pkg) []string { return p.Deps }

func allImports(p *pkg) []string {
	return slices.Concat(p.Imports, p.TestImports, p.XTestImports)
}

// TestDeps enforces the import rules of STYLE.md 4.2. Each rule says why it
// exists; a failure names the package and the import that broke it.
func TestDeps(t *testing.T) {
	m := load(t)
	tests := []struct {
		name string
		why  string
		// pkgs selects the packages the rule binds, by module-relative path.
		pkgs func(rel string) bool
		// imports are the imports checked: deps (transitive, non-test) or
		// allImports (direct, including tests).
		imports func(*pkg) []string
		// bad reports whether importing path breaks the rule; rel is set
		// when path is in this module.
		bad func(m *module, self, path, rel string, inModule bool) bool
	}{
		{
			name: "plugin imports only the standard library",
			why: "plugin is the one package plugins from other modules can import (Go forbids them internal/), " +
				"so whatever it imports becomes a dependency of every third-party plugin",
			pkgs:    func(rel string) bool { return under(rel, "plugin") },
			imports: deps,
			bad: func(m *module, _, path, rel string, in bool) bool {
				return !m.std(path) && !(in && under(rel, "plugin")) // plugintest builds on plugin
			},
		},
		{
			name: "plugins never import internal packages",
			why: "built-in plugins must be writable with the public API alone, like plugins from other modules; " +
				"what they share lives in plugins/internal (test helpers aside: only tests import them, so they " +
				"reach no plugin's build)",
			pkgs:    func(rel string) bool { return under(rel, "plugins") && !isTestHelper(rel) },
			imports: deps,
			bad: func(_ *module, _, _, rel string, in bool) bool {
				return in && under(rel, "internal")
			},
		},
		{
			name:    "plugins never import the gateway, not even in tests",
			why:     "plugins reach the gateway as values ([]plugin.Kind wired in cmd); importing it would invert the layering",
			pkgs:    func(rel string) bool { return under(rel, "plugins") },
			imports: allImports,
			bad: func(_ *module, _, _, rel string, in bool) bool {
				return in && under(rel, "internal/gateway")
			},
		},
		{
			name:    "plugins never import another plugin",
			why:     "each plugin stands alone so it can be dropped from a build; shared code goes to plugins/internal",
			pkgs:    func(rel string) bool { return under(rel, "plugins") && !under(rel, "plugins/internal") },
			imports: deps,
			bad: func(m *module, self, _, rel string, in bool) bool {
				return in && under(rel, "plugins") && !under(rel, "plugins/internal") && rel != self
			},
		},
		{
			name:    "internal/router imports no other sluice package",
			why:     "the router is pure matching, fuzzed and benchmarked on its own; the gateway converts config into router.Route",
			pkgs:    func(rel string) bool { return under(rel, "internal/router") },
			imports: deps,
			bad: func(_ *module, _, _, rel string, in bool) bool {
				return in && !under(rel, "internal/router")
			},
		},
		{
			name: "internal/config imports only plugin among sluice packages",
			why: "config is loaded by `sluice validate` and by every layer; it may know plugin's types (Kind, " +
				"json.RawMessage configs) but nothing that runs requests",
			pkgs:    func(rel string) bool { return under(rel, "internal/config") },
			imports: deps,
			bad: func(_ *module, _, _, rel string, in bool) bool {
				return in && !under(rel, "internal/config") && rel != "plugin"
			},
		},
		{
			name: "no non-test package imports testing or httptest",
			why: "testing and net/http/httptest register command-line flags (-test.*, -httptest.serve) in every " +
				"binary that links them, and test helpers do not belong in production code",
			// Test-helper packages (plugin/plugintest) are for _test.go files
			// only; nothing else may import them (next rule).
			pkgs:    func(rel string) bool { return !isTestHelper(rel) },
			imports: deps,
			bad: func(_ *module, _, path, _ string, _ bool) bool {
				return path == "testing" || strings.HasPrefix(path, "testing/") || path == "net/http/httptest"
			},
		},
		{
			name:    "only tests import test helpers",
			why:     "test helpers import testing, which must not reach the binary",
			pkgs:    func(rel string) bool { return !isTestHelper(rel) },
			imports: deps,
			bad: func(_ *module, _, _, rel string, in bool) bool {
				return in && isTestHelper(rel)
			},
		},
		{
			name:    "nothing imports cmd",
			why:     "cmd only wires the binary; code worth sharing belongs under internal/ so it does not depend on a main package",
			pkgs:    func(string) bool { return true },
			imports: allImports,
			bad: func(_ *module, _, _, rel string, in bool) bool {
				return in && under(rel, "cmd")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bound := 0
			for _, p := range m.own {
				self, _ := m.rel(p.ImportPath)
				if !tt.pkgs(self) {
					continue
				}
				bound++
				for _, imp := range tt.imports(p) {
					rel, in := m.rel(imp)
					if tt.bad(m, self, imp, rel, in) {
						t.Errorf("%s imports %s; want not: %s", p.ImportPath, imp, tt.why)
					}
				}
			}
			if bound == 0 {
				t.Errorf("rule binds no package; a package was renamed or moved, so update the rule")
			}
		})
	}
}

// TestListErrors makes sure the dependency checks saw every package.
func TestListErrors(t *testing.T) {
	m := load(t)
	for _, p := range m.own {
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
	}
}

// missingDocs lists packages known to lack a doc comment.
var missingDocs = map[string]string{}

// TestPackageDocs checks that every package has a doc comment in the go doc
// form: "Package name ..." for libraries, "Command name ..." for main
// packages (STYLE.md 4.6).
func TestPackageDocs(t *testing.T) {
	m := load(t)
	for _, p := range m.own {
		rel, _ := m.rel(p.ImportPath)
		t.Run(rel, func(t *testing.T) {
			want := "Package " + p.Name + " "
			if p.Name == "main" {
				want = "Command " + rel[strings.LastIndex(rel, "/")+1:] + " "
			}
			ok := strings.HasPrefix(p.Doc+" ", want)
			if bug, known := missingDocs[rel]; known {
				if ok {
					t.Fatalf("%s now has a doc comment; remove it from missingDocs", rel)
				}
				t.Skip("BUG: " + bug)
			}
			if !ok {
				t.Errorf("%s doc synopsis = %q; want a doc comment starting %q", p.ImportPath, p.Doc, want)
			}
		})
	}
}
