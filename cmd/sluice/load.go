package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/gateway"
	"github.com/sluicegw/sluice/plugin"
)

//go:embed default.yaml
var defaultConfig []byte

// defaultName labels the embedded configuration in messages.
const defaultName = "embedded default config"

// source is where a configuration came from: a file (path set) or the
// embedded default (path empty, never reloaded from disk).
type source struct {
	name string // for messages: the path, or defaultName
	path string
}

func (s source) read() ([]byte, error) {
	if s.path == "" {
		return defaultConfig, nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return data, nil
}

// findSource picks the configuration: -c FILE, then $SLUICE_CONFIG, then
// ./sluice.yaml, then the embedded default.
func findSource(flagPath string) source {
	if flagPath != "" {
		return source{name: flagPath, path: flagPath}
	}
	if p := os.Getenv("SLUICE_CONFIG"); p != "" {
		return source{name: p, path: p}
	}
	if _, err := os.Stat("sluice.yaml"); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return source{name: "sluice.yaml", path: "sluice.yaml"}
	}
	return source{name: defaultName}
}

// check parses and validates data completely: syntax, keys and types, then
// references and plugin configs, then route patterns. It returns the config,
// or every problem formatted as "file:line:col: path: message".
func check(name string, data []byte, kinds map[string]plugin.Kind) (*config.Config, *config.Document, []string) {
	doc, ps := config.Check(name, data, os.LookupEnv, kinds, gateway.CheckRoutes)
	if len(ps) > 0 {
		return nil, doc, doc.FormatLines(ps)
	}
	return doc.Config, doc, nil
}

func kindMap() map[string]plugin.Kind {
	m := make(map[string]plugin.Kind)
	for _, k := range kinds() {
		m[k.Name] = k
	}
	return m
}
