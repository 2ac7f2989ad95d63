package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/tetherlb/tether/internal/keyring"
)

// keysUsage is the help of tether keys.
const keysUsage = `Usage:
  tether keys generate -o FILE [-force] [-rsa=false]
  tether keys rotate -f FILE [-rsa=false] [-drop-old]

The key ring seals affinity tokens and session CSRF tokens, and signs the
token service's JWTs. generate makes a new ring; rotate adds a fresh active
key (with -drop-old, for a key that leaked, it removes the others).
tether keys COMMAND -h tells more.
`

func cmdKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		io.WriteString(stderr, keysUsage)
		return 2
	}
	switch args[0] {
	case "generate":
		return keysGenerate(args[1:], stdout, stderr)
	case "rotate":
		return keysRotate(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		io.WriteString(stdout, keysUsage)
		return 0
	}
	fmt.Fprintf(stderr, "tether keys: unknown command %q (want generate or rotate)\n", args[0])
	return 2
}

func keysGenerate(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fset.SetOutput(stderr)
	out := fset.String("o", "tether-keys.json", "key ring `file` to create (mode 0600)")
	force := fset.Bool("force", false, "overwrite an existing file (every token sealed with it stops opening)")
	withRSA := fset.Bool("rsa", true, rsaFlagUsage())
	fset.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tether keys generate -o FILE\n\nCreate a key ring with one fresh 256-bit key and, unless -rsa=false, an\nRSA-%d key that signs RS256 tokens. Every tether replica that should\nhonour the same affinity tokens needs a copy of this file.\n\nFlags:\n", keyring.RSABits)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return helpExit(err)
	}
	if !noArgs(fset, stderr, "give the file with -o FILE") {
		return 2
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		fmt.Fprintf(stderr, "tether keys generate: %s exists; use 'tether keys rotate -f %s' to add a key, or -force to replace it\n", *out, *out)
		return 1
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "tether keys generate: %v\n", err)
		return 1
	}
	r, err := keyring.Generate(time.Now())
	if err == nil && *withRSA {
		r, err = r.WithActiveRSA()
	}
	if err == nil {
		err = r.Save(*out)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tether keys generate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (mode 0600): active key %s%s\n", *out, r.Active().ID, rsaNote(r))
	return 0
}

// rsaFlagUsage describes the -rsa flag of generate and rotate.
func rsaFlagUsage() string {
	return fmt.Sprintf("give the new active key an RSA-%d key for signing RS256 tokens", keyring.RSABits)
}

// rsaNote says, for the output of generate and rotate, whether the active
// key of r has an RSA key.
func rsaNote(r *keyring.Ring) string {
	k := r.Active()
	if k.RSA == nil {
		return " without an RSA key, so it cannot sign RS256 tokens"
	}
	return fmt.Sprintf(" with an RSA-%d signing key for tokens (RS256)", k.RSA.N.BitLen())
}

func keysRotate(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fset.SetOutput(stderr)
	file := fset.String("f", "tether-keys.json", "key ring `file` to rotate")
	withRSA := fset.Bool("rsa", true, rsaFlagUsage())
	dropOld := fset.Bool("drop-old", false, "remove every older key: for a key that leaked (see below)")
	fset.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tether keys rotate -f FILE [-drop-old]\n\nAdd a fresh active key and, unless -rsa=false, an RSA-%d key for it that\nsigns RS256 tokens. Older keys stay (up to 8 in all), with any RSA keys,\nso what was sealed or signed with them still opens or verifies; affinity\ntokens are re-sealed with the new key. Copy the file to every replica,\nthen reload them (SIGHUP or POST /api/v1/reload).\n\nWith -drop-old, the older keys go: once the replicas reload, what they\nsealed or signed stops opening or verifying at once, forgeries made with a\nleaked key included. Access and ID tokens are refused (users get new ones\nwith their refresh tokens, which stay valid), browsers' affinity cookies\nstop opening (each is pinned again, maybe to another target), and session\nCSRF tokens fail until the page is loaded again.\n\nFlags:\n", keyring.RSABits)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return helpExit(err)
	}
	if !noArgs(fset, stderr, "give the file with -f FILE") {
		return 2
	}
	r, err := keyring.Load(*file)
	if err == nil {
		r, err = r.Rotate(time.Now())
	}
	if err == nil && *withRSA {
		r, err = r.WithActiveRSA()
	}
	dropped := 0
	if err == nil && *dropOld {
		dropped = len(r.Keys()) - 1
		r = r.WithoutPrevious()
	}
	if err == nil {
		err = r.Save(*file)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tether keys rotate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "rotated %s: active key %s%s; %d keys in the ring\n", *file, r.Active().ID, rsaNote(r), len(r.Keys()))
	if *dropOld {
		fmt.Fprintf(stdout, "dropped %d older keys: copy the file to every replica and reload them now; what the old keys sealed or signed stops opening then\n", dropped)
	}
	return 0
}

// noArgs refuses arguments left after fs's flags: "tether check other.yaml"
// would otherwise check the default file, and say ok, about another one.
func noArgs(fs *flag.FlagSet, stderr io.Writer, hint string) bool {
	if fs.NArg() == 0 {
		return true
	}
	fmt.Fprintf(stderr, "tether %s: unexpected argument %q (%s)\n", fs.Name(), fs.Arg(0), hint)
	return false
}

// helpExit is the exit code for fs.Parse's error: 0 for -h (help was
// asked for and given), 2 for a bad flag.
func helpExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
