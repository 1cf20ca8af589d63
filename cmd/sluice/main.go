// Command sluice is the Sluice gateway: an API, AI and MCP gateway in one
// binary. This file is the one place that lists the built-in plugins; a
// custom build copies it and appends its own kinds.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/aibudget"
	"github.com/sluicegw/sluice/plugins/aicache"
	"github.com/sluicegw/sluice/plugins/aimaxtokens"
	"github.com/sluicegw/sluice/plugins/aipromptdecorator"
	"github.com/sluicegw/sluice/plugins/aipromptguard"
	"github.com/sluicegw/sluice/plugins/airatelimit"
	"github.com/sluicegw/sluice/plugins/basicauth"
	"github.com/sluicegw/sluice/plugins/consumerrestriction"
	"github.com/sluicegw/sluice/plugins/cors"
	"github.com/sluicegw/sluice/plugins/headers"
	"github.com/sluicegw/sluice/plugins/iprestriction"
	"github.com/sluicegw/sluice/plugins/jwtauth"
	"github.com/sluicegw/sluice/plugins/keyauth"
	"github.com/sluicegw/sluice/plugins/limitconn"
	"github.com/sluicegw/sluice/plugins/limitcount"
	"github.com/sluicegw/sluice/plugins/limitreq"
	"github.com/sluicegw/sluice/plugins/maxbody"
	"github.com/sluicegw/sluice/plugins/mocking"
	"github.com/sluicegw/sluice/plugins/mtlsauth"
	"github.com/sluicegw/sluice/plugins/openidconnect"
	"github.com/sluicegw/sluice/plugins/proxyrewrite"
	"github.com/sluicegw/sluice/plugins/requestid"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

// kinds are the built-in plugins, in no particular order: phases decide
// where each runs.
func kinds() []plugin.Kind {
	return []plugin.Kind{
		requestid.Kind, cors.Kind, iprestriction.Kind, maxbody.Kind,
		keyauth.Kind, basicauth.Kind, jwtauth.Kind, openidconnect.Kind, mtlsauth.Kind,
		consumerrestriction.Kind,
		limitreq.Kind, limitcount.Kind, limitconn.Kind,
		headers.Kind, proxyrewrite.Kind, mocking.Kind,
		aipromptguard.Kind, airatelimit.Kind, aibudget.Kind,
		aipromptdecorator.Kind, aimaxtokens.Kind, aicache.Kind,
	}
}

const usage = `Sluice is an API, AI and MCP gateway.

Usage:
  sluice run [-c FILE]        run the gateway
  sluice validate -c FILE     check a configuration file and list every problem
  sluice schema               print the JSON Schema of the configuration
  sluice version              print the version

Run 'sluice COMMAND --help' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "schema":
		return cmdSchema(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "sluice %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
