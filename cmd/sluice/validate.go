package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/gateway"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration `FILE` to check (default: $SLUICE_CONFIG, ./sluice.yaml, or the embedded default)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sluice validate -c FILE\n\nChecks a configuration and lists every problem with its location.\nExits 0 when it is valid, 1 when it is not.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	src := findSource(*file)
	data, err := src.read()
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	cfg, doc, problems := check(src.name, data, kindMap())
	if len(problems) == 0 {
		// Some problems show only when plugins are built against the
		// whole config (a consumer-restriction naming an unknown consumer).
		if ps := gateway.CheckBuild(cfg, kinds()); len(ps) > 0 {
			problems = doc.FormatLines(ps)
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", src.name, len(problems))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", src.name)
	return 0
}

func cmdSchema(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sluice schema\n\nPrints the JSON Schema of the configuration, plugin configs included,\nfor editors that autocomplete YAML (e.g. # yaml-language-server: $schema=sluice.schema.json).\n")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	b, err := config.Schema(kinds())
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	_, _ = stdout.Write(b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	return 0
}
