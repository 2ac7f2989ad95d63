// Command tether runs the path a stateful web application needs between the
// browser and its servers: a load balancer with tamper-proof sticky
// sessions, health checks and draining. See README.md and docs/.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `tether: the path a stateful web app needs between the browser and its servers, in one
binary: an edge cache with cookie policies, a load balancer whose sticky sessions are tamper-proof,
even and failure-safe, a shared session store, and a token service.

Usage:
  tether serve -c FILE         run what the config file declares (SIGHUP reloads it)
  tether check -c FILE         validate a config file; print every problem; exit 1 on any
  tether doctor -c FILE        lint edges in front of sticky groups (--aws DIR: AWS exports)
  tether demo [flags]          the load balancer in front of built-in demo targets, on loopback
  tether keys generate -o FILE create a new key ring file (mode 0600)
  tether keys rotate -f FILE   add a new active key, keeping the old ones so tokens still open
  tether probe URL [flags]     measure how well a live URL keeps browsers on one target
  tether users COMMAND         manage the token service's users: add, list, disable, enable, passwd
  tether version               print the version

Run 'tether COMMAND -h' for the flags of a command.
Docs: docs/configuration.md (every key, the admin API and its dashboard), docs/affinity.md
(stickiness), docs/edge.md, docs/sessions.md, docs/tokens.md, docs/doctor.md, docs/probe.md.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code: 0 ok, 1 a problem
// with input or config, 2 a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(rest, stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "keys":
		return cmdKeys(rest, stdout, stderr)
	case "probe":
		return cmdProbe(rest, stdout, stderr)
	case "users":
		return cmdUsers(rest, os.Stdin, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "tether %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tether: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
