// Package session keeps web sessions in a shared store, so that a user stays
// logged in when the server that served them dies.
package session
