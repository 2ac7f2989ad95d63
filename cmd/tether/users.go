package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/internal/users/filestore"
	"github.com/tetherlb/tether/internal/users/storeurl"
)

const usersUsage = `Usage:
  tether users add     --username U --password-stdin [--email E] [--name N]
                       [--tenant T] [--role R]... [--attr KEY=VALUE]...
  tether users list    [--json]
  tether users disable --username U
  tether users enable  --username U
  tether users passwd  --username U --password-stdin

Manage the user pool of the token service. Every command finds the pool
through one of:
  -c FILE      the tokens.users.store key of a tether config (default
               tether.yaml); a relative file: path is relative to the
               directory of FILE
  --store URL  the store itself, a relative file: path being relative to
               the working directory

Stores:
  file:PATH                          one JSON file, mode 0600, created by the
                                     first add (concurrent adds are safe)
  postgres://USER:PASS@HOST:PORT/DB  PostgreSQL; the table tether_users is
                                     created on first use

Passwords are read from standard input only, never from a flag: a flag
shows in ps and in the shell's history. The first line is the password
(without its line ending): at least 8 characters, at most 1024 bytes, and
not the username; no other rules. For example:
  read -rs PW && printf '%s\n' "$PW" | tether users add --username alice --password-stdin

Exit codes: 0 done, 1 a problem with the input or the store, 2 a usage error.
Run 'tether users COMMAND -h' for the flags of a command.
`

// usersTimeout bounds one users command's work with the store.
const usersTimeout = time.Minute

// errPasswordFlag refuses a --password flag.
var errPasswordFlag = errors.New("passwords are never taken from flags (ps and shell history show them): pipe it in with --password-stdin")

func cmdUsers(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		io.WriteString(stderr, usersUsage)
		return 2
	}
	switch args[0] {
	case "add":
		return usersAdd(args[1:], stdin, stdout, stderr)
	case "list":
		return usersList(args[1:], stdout, stderr)
	case "disable", "enable":
		return usersSetDisabled(args[0], args[1:], stdout, stderr)
	case "passwd":
		return usersPasswd(args[1:], stdin, stdout, stderr)
	case "-h", "--help", "help":
		io.WriteString(stdout, usersUsage)
		return 0
	}
	fmt.Fprintf(stderr, "tether users: unknown command %q (want add, list, disable, enable or passwd)\n", args[0])
	return 2
}

// usersCmd holds what every users command shares: its flag set, with the
// store flags, and its name for messages.
type usersCmd struct {
	name   string // "users add"
	fs     *flag.FlagSet
	stderr io.Writer
	config string
	store  string
}

func newUsersCmd(name, usage string, stderr io.Writer) *usersCmd {
	c := &usersCmd{name: "users " + name, fs: flag.NewFlagSet("users "+name, flag.ContinueOnError), stderr: stderr}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.config, "c", "tether.yaml", "config `file` whose tokens.users.store names the user store")
	c.fs.StringVar(&c.store, "store", "", "user store `URL` (file:PATH or postgres://…), instead of -c")
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tether users %s\nThe store: -c FILE (default tether.yaml) or --store URL; see 'tether users -h'.\n\nFlags:\n", usage)
		c.fs.PrintDefaults()
	}
	return c
}

// passwordFlags adds --password-stdin, and a --password that is refused.
func (c *usersCmd) passwordFlags() *bool {
	c.fs.Func("password", "refused: passwords are read from standard input only (--password-stdin)",
		func(string) error { return errPasswordFlag })
	return c.fs.Bool("password-stdin", false, "read the password from the first line of standard input (required)")
}

// parse parses args and reports a usage error, returning false and the
// exit code (2; 0 for -h), for arguments left over and for -c and --store
// together.
func (c *usersCmd) parse(args []string) (int, bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		// Refused before the flag package sees it: its error would
		// print the password ("invalid value … for flag -password").
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == "password" {
			return c.usageError("%v", errPasswordFlag), false
		}
	}
	if err := c.fs.Parse(args); err != nil {
		return helpExit(err), false
	}
	if c.fs.NArg() > 0 {
		return c.usageError("unexpected argument %q", c.fs.Arg(0)), false
	}
	configSet := false
	c.fs.Visit(func(f *flag.Flag) { configSet = configSet || f.Name == "c" })
	if configSet && c.store != "" {
		return c.usageError("-c and --store both name a store; pass one"), false
	}
	return 0, true
}

func (c *usersCmd) usageError(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "tether %s: %s (see -h)\n", c.name, fmt.Sprintf(format, args...))
	return 2
}

func (c *usersCmd) fail(err error) int {
	fmt.Fprintf(c.stderr, "tether %s: %v\n", c.name, err)
	return 1
}

// open opens the store that --store names, or else the one in the
// config file's tokens.users.store.
func (c *usersCmd) open(ctx context.Context) (users.Store, error) {
	if c.store != "" {
		return storeurl.Open(ctx, c.store, storeurl.Options{})
	}
	url, err := userStoreFromConfig(c.config)
	if err != nil {
		return nil, err
	}
	return storeurl.Open(ctx, url, storeurl.Options{Dir: filepath.Dir(c.config)})
}

// userStoreFromConfig returns the tokens.users.store value of the config
// file at path (its default when the tokens block leaves it out). It reads
// that block alone and ignores every other key, so that users can be added
// while the rest of the config is still being written.
func userStoreFromConfig(path string) (string, error) {
	data, err := config.ReadFile(path, config.MaxFileSize)
	if err != nil {
		return "", fmt.Errorf("reading config: %w (pass -c FILE or --store URL)", err)
	}
	var doc struct {
		Tokens *struct {
			Users struct {
				Store string `yaml:"store"`
			} `yaml:"users"`
		} `yaml:"tokens"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("reading config: %s: %w", path, err)
	}
	if doc.Tokens == nil {
		return "", fmt.Errorf("%s has no tokens block: add one (tokens: {address: 127.0.0.1:9903, audiences: [api]}) or pass --store URL", path)
	}
	if doc.Tokens.Users.Store == "" {
		return config.DefaultUsersStore, nil
	}
	return doc.Tokens.Users.Store, nil
}

// readPassword returns the first line of stdin, without its line ending.
// It refuses a terminal, which would echo the password.
func readPassword(stdin io.Reader) (string, error) {
	if f, ok := stdin.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			return "", errors.New("standard input is a terminal, which would echo the password: pipe it in (see 'tether users -h')")
		}
	}
	data, err := io.ReadAll(io.LimitReader(stdin, users.MaxPasswordLen+3))
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return "", errors.New("no password on standard input")
	}
	return string(line), nil
}

// hashFromStdin reads the password from stdin, checks it against the
// policy and returns its hash at the default parameters.
func hashFromStdin(stdin io.Reader, username string) (string, error) {
	password, err := readPassword(stdin)
	if err == nil {
		err = users.CheckPassword(password, username)
	}
	if err != nil {
		return "", err
	}
	return users.HashPassword(password, users.DefaultParams())
}

// parseAttrs parses --attr flags, KEY=VALUE each.
func parseAttrs(attrs []string) (map[string]string, error) {
	var m map[string]string
	for _, kv := range attrs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--attr %q: want KEY=VALUE", kv)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("--attr %s is given twice", k)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m, nil
}

// listFlag is a flag that may be repeated.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func usersAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUsersCmd("add", `add --username U --password-stdin [--email E] [--name N] [--tenant T]
       [--role R]... [--attr KEY=VALUE]...

Add a user, with the password read from standard input. Usernames are
unique regardless of case. Roles and attributes go into the user's tokens.
`, stderr)
	var u users.User
	var roles, attrs listFlag
	c.fs.StringVar(&u.Username, "username", "", "the `name` the user logs in with (required; 1 to 128 characters)")
	c.fs.StringVar(&u.Email, "email", "", "the user's email `address`")
	c.fs.StringVar(&u.Name, "name", "", "the user's display `name`")
	c.fs.StringVar(&u.TenantID, "tenant", "", "the `tenant` the user belongs to")
	c.fs.Var(&roles, "role", "a `role` of the user (repeatable)")
	c.fs.Var(&attrs, "attr", "a custom attribute, `KEY=VALUE` (repeatable)")
	fromStdin := c.passwordFlags()
	if code, ok := c.parse(args); !ok {
		return code
	}
	if u.Username == "" || !*fromStdin {
		return c.usageError("--username and --password-stdin are required")
	}
	u.Roles = roles
	var err error
	if u.Attributes, err = parseAttrs(attrs); err != nil {
		return c.usageError("%v", err)
	}
	if err := u.Normalize().Validate(); err != nil {
		return c.fail(err)
	}
	if u.PasswordHash, err = hashFromStdin(stdin, u.Username); err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), usersTimeout)
	defer cancel()
	store, err := c.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer store.Close()
	created, err := store.Create(ctx, u)
	if errors.Is(err, users.ErrExists) {
		return c.fail(fmt.Errorf("a user named %q exists (usernames are unique regardless of case)", strings.TrimSpace(u.Username)))
	}
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(stdout, "added user %s (id %s)\n", created.Username, created.ID)
	return 0
}

func usersList(args []string, stdout, stderr io.Writer) int {
	c := newUsersCmd("list", `list [--json]

List the users: username, ID, tenant, roles, whether disabled, and when
created. Password hashes are never printed.
`, stderr)
	asJSON := c.fs.Bool("json", false, "print a JSON array of users (every field but the password hash)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), usersTimeout)
	defer cancel()
	store, err := c.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer store.Close()
	all, err := store.List(ctx)
	if err != nil {
		return c.fail(err)
	}
	if fs, ok := store.(*filestore.Store); ok {
		if _, err := os.Stat(fs.Path()); errors.Is(err, os.ErrNotExist) {
			// An empty table alone would not tell a mistyped path from
			// an empty pool.
			fmt.Fprintf(stderr, "tether users list: no user file at %s yet (the first 'tether users add' creates it): check the path if you expected users\n", fs.Path())
		}
	}
	if *asJSON {
		if all == nil {
			all = []users.User{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil { // User omits PasswordHash
			return c.fail(err)
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tID\tTENANT\tROLES\tDISABLED\tCREATED")
	for _, u := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.ID, orDash(u.TenantID),
			orDash(strings.Join(u.Roles, ",")), yesNo(u.Disabled), u.CreatedAt.UTC().Format(time.RFC3339))
	}
	tw.Flush()
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func usersSetDisabled(verb string, args []string, stdout, stderr io.Writer) int {
	effect := "Disable a user: logins fail as with a wrong password (the log tells\nwhy). The user and their password stay; 'tether users enable' undoes it.\n"
	if verb == "enable" {
		effect = "Enable a disabled user again.\n"
	}
	c := newUsersCmd(verb, verb+" --username U\n\n"+effect, stderr)
	username := c.fs.String("username", "", "the user's `name` (required)")
	if code, ok := c.parse(args); !ok {
		return code
	}
	if *username == "" {
		return c.usageError("--username is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), usersTimeout)
	defer cancel()
	store, err := c.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer store.Close()
	u, ok, err := store.GetByUsername(ctx, *username)
	if err == nil && ok {
		u, ok, err = store.SetDisabled(ctx, u.ID, verb == "disable")
	}
	if err != nil {
		return c.fail(err)
	}
	if !ok {
		return c.fail(fmt.Errorf("no user named %q", *username))
	}
	fmt.Fprintf(stdout, "%sd user %s\n", verb, u.Username)
	return 0
}

func usersPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUsersCmd("passwd", `passwd --username U --password-stdin

Set a user's password, read from standard input. The change is recorded
(PasswordChangedAt), so tokens issued before it can be revoked.
`, stderr)
	username := c.fs.String("username", "", "the user's `name` (required)")
	fromStdin := c.passwordFlags()
	if code, ok := c.parse(args); !ok {
		return code
	}
	if *username == "" || !*fromStdin {
		return c.usageError("--username and --password-stdin are required")
	}
	hash, err := hashFromStdin(stdin, *username)
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), usersTimeout)
	defer cancel()
	store, err := c.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer store.Close()
	u, ok, err := store.GetByUsername(ctx, *username)
	if err == nil && !ok {
		err = fmt.Errorf("no user named %q", *username)
	}
	if err == nil {
		u, ok, err = store.SetPassword(ctx, u.ID, hash)
	}
	if err == nil && !ok {
		err = fmt.Errorf("no user named %q (deleted meanwhile)", *username)
	}
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(stdout, "changed the password of %s\n", u.Username)
	return 0
}
