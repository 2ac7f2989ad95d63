package users

// Hooks for the tests of package users_test, which use the real stores.

// WatchVerify makes a call f with each hash it checks a password against.
func WatchVerify(a *Authenticator, f func(hash string)) {
	inner := a.verify
	a.verify = func(encoded, password string) (bool, error) {
		f(encoded)
		return inner(encoded, password)
	}
}

// DummyHash returns the hash a checks the passwords of unknown users
// against.
func DummyHash(a *Authenticator) string { return a.dummy }

// Tracked returns how many usernames and addresses a's limits track.
func Tracked(a *Authenticator) (accounts, ips int) { return a.accounts.len(), a.ips.len() }
