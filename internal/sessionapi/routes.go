package sessionapi

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/tetherlb/tether/session"
)

// createRequest is the body of POST /api/v1/sessions.
type createRequest struct {
	UserID   string                     `json:"user_id"`
	TenantID string                     `json:"tenant_id"`
	Data     map[string]json.RawMessage `json:"data"`
	// IP and UserAgent are the browser's, for the session's binding
	// signals and the user's list of sessions; optional.
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// maxUserAgentLen is the longest user_agent a create request may give
// (the session keeps the first 256 bytes).
const maxUserAgentLen = 8 << 10

// client checks the create request's ip and user_agent.
func (req *createRequest) client() (session.Client, error) {
	var c session.Client
	if req.IP != "" {
		ip, err := netip.ParseAddr(req.IP)
		if err != nil || ip.Zone() != "" {
			return c, bad("ip %q is not an IP address (such as 203.0.113.7 or 2001:db8::1)", req.IP)
		}
		c.IP = ip
	}
	if len(req.UserAgent) > maxUserAgentLen {
		return c, bad("user_agent is longer than %d bytes", maxUserAgentLen)
	}
	for _, r := range req.UserAgent {
		if r < ' ' || r == 0x7f {
			return c, bad("user_agent contains a control character")
		}
	}
	c.UserAgent = req.UserAgent
	return c, nil
}

// sessionResponse is a session as GET returns it.
type sessionResponse struct {
	ID            string                     `json:"id,omitempty"`
	Hash          string                     `json:"hash"`
	UserID        string                     `json:"user_id"`
	TenantID      string                     `json:"tenant_id"`
	Data          map[string]json.RawMessage `json:"data"`
	CreatedAt     string                     `json:"created_at"`
	LastSeenAt    string                     `json:"last_seen_at"`
	IdleExpiresAt string                     `json:"idle_expires_at"`
	ExpiresAt     string                     `json:"expires_at"`
}

func response(s session.Snapshot) sessionResponse {
	return sessionResponse{
		Hash: s.Hash, UserID: s.UserID, TenantID: s.Tenant, Data: s.Data,
		CreatedAt: timeJSON(s.Created), LastSeenAt: timeJSON(s.LastSeen),
		IdleExpiresAt: timeJSON(s.IdleExpiry), ExpiresAt: timeJSON(s.Expires),
	}
}

// checkName validates a user ID, tenant ID or data key.
func checkName(what, s string, required bool) error {
	switch {
	case s == "" && required:
		return bad("%s is required", what)
	case len(s) > maxKeyLen:
		return bad("%s is longer than %d bytes", what, maxKeyLen)
	case !utf8.ValidString(s):
		return bad("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return bad("%s %q contains a control character", what, s)
		}
	}
	return nil
}

func checkData(data map[string]json.RawMessage, allowNull bool) error {
	for k, v := range data {
		if err := checkName("data key", k, true); err != nil {
			return err
		}
		if !allowNull && string(v) == "null" {
			return bad("data key %q is null; leave it out instead", k)
		}
	}
	return nil
}

// tenant reads the tenant_id query parameter ("" when absent).
func tenant(r *http.Request) (string, error) {
	t := r.URL.Query().Get("tenant_id")
	return t, checkName("tenant_id", t, false)
}

func (a *api) create(r *http.Request, _ string) (int, any, error) {
	var req createRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkName("user_id", req.UserID, false); err != nil {
		return 0, nil, err
	}
	if err := checkName("tenant_id", req.TenantID, false); err != nil {
		return 0, nil, err
	}
	if err := checkData(req.Data, false); err != nil {
		return 0, nil, err
	}
	c, err := req.client()
	if err != nil {
		return 0, nil, err
	}
	id, snap, err := a.m.CreateSessionFor(r.Context(), req.TenantID, req.UserID, req.Data, c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{
		"id": id, "hash": snap.Hash, "idle_expires_at": timeJSON(snap.IdleExpiry), "expires_at": timeJSON(snap.Expires),
	}, nil
}

func (a *api) get(r *http.Request, t string) (int, any, error) {
	snap, err := a.m.Lookup(r.Context(), t, r.PathValue("id"), true)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, response(snap), nil
}

func (a *api) patch(r *http.Request, t string) (int, any, error) {
	var req struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Data) == 0 {
		return 0, nil, bad("data is required: an object of keys to set (and keys set to null to remove)")
	}
	if err := checkData(req.Data, true); err != nil {
		return 0, nil, err
	}
	snap, err := a.m.Patch(r.Context(), t, r.PathValue("id"), req.Data)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, response(snap), nil
}

func (a *api) renew(r *http.Request, t string) (int, any, error) {
	id, err := a.m.RenewID(r.Context(), t, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"id": id, "hash": a.m.HashOf(id)}, nil
}

func (a *api) destroy(r *http.Request, t string) (int, any, error) {
	if err := a.m.DestroyID(r.Context(), t, r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *api) listUser(r *http.Request, t string) (int, any, error) {
	user := r.PathValue("user")
	if err := checkName("user", user, true); err != nil {
		return 0, nil, err
	}
	list, err := a.m.ListUserIn(r.Context(), t, user)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"sessions": list}, nil
}

// revokeUserSession ends one session of a user, named by the hash the
// user's list gives.
func (a *api) revokeUserSession(r *http.Request, t string) (int, any, error) {
	user := r.PathValue("user")
	if err := checkName("user", user, true); err != nil {
		return 0, nil, err
	}
	hash := r.PathValue("hash")
	if len(hash) != 32 || strings.Trim(hash, "0123456789abcdef") != "" {
		return 0, nil, bad("%q is not a session hash: 32 lowercase hex digits, the id of a session in GET /api/v1/users/{user}/sessions", hash)
	}
	if err := a.m.RevokeUserSession(r.Context(), t, user, hash, "api"); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *api) revokeUser(r *http.Request, t string) (int, any, error) {
	user := r.PathValue("user")
	if err := checkName("user", user, true); err != nil {
		return 0, nil, err
	}
	var except []string
	for _, id := range r.URL.Query()["except"] {
		h := a.m.HashOf(id)
		if h == "" {
			return 0, nil, bad("except is not a session ID")
		}
		except = append(except, h)
	}
	n, err := a.m.RevokeUserIn(r.Context(), t, user, "api", except...)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int{"revoked": n}, nil
}
