package tokens

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tetherlb/tether/internal/users"
)

// The claims tether writes.
//
// Access token (header typ at+jwt, RFC 9068 §2): iss, sub, aud (one
// audience), exp, iat, jti, client_id, auth_time, token_use "access", sid
// (the refresh family), scope (space-separated, when any), username,
// tenant_id and roles (when the user has them).
//
// ID token (header typ JWT, OpenID Connect Core §2): iss, sub, aud, exp,
// iat, auth_time, token_use "id", sid, preferred_username, email, name,
// tenant_id, roles, and each custom attribute as "custom:KEY" (Cognito's
// spelling).
//
// iat is whole seconds, as every JOSE library expects (some refuse or
// misread a fractional NumericDate). A logout everywhere therefore takes
// effect from the start of its second: see notBefore.

// grant is what a login or a refresh issues tokens for.
type grant struct {
	user     users.User
	audience string
	scope    []string
	sid      string
	authTime time.Time
}

type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience string   `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	ID       string   `json:"jti"`
	ClientID string   `json:"client_id"`
	AuthTime int64    `json:"auth_time"`
	TokenUse string   `json:"token_use"`
	SID      string   `json:"sid"`
	Scope    string   `json:"scope,omitempty"`
	Username string   `json:"username"`
	TenantID string   `json:"tenant_id,omitempty"`
	Roles    []string `json:"roles,omitempty"`
}

// issued is the signed tokens of one grant.
type issued struct {
	access, id string
	expiresIn  int
}

func (s *Service) sign(g grant, now time.Time) (issued, error) {
	ks := s.keys.Load()
	k := ks.active()
	exp := now.Add(s.ttl)
	var jti [16]byte
	rand.Read(jti[:])
	ac := accessClaims{
		Issuer: s.issuer, Subject: g.user.ID, Audience: g.audience, Expiry: exp.Unix(),
		IssuedAt: now.Unix(), ID: hex.EncodeToString(jti[:]), ClientID: ClientID,
		AuthTime: g.authTime.Unix(), TokenUse: "access", SID: g.sid, Scope: strings.Join(g.scope, " "),
		Username: g.user.Username, TenantID: g.user.TenantID, Roles: g.user.Roles,
	}
	access, err := signJSON(k.access, ac)
	if err != nil {
		return issued{}, err
	}
	idc := map[string]any{}
	for key, v := range g.user.Attributes {
		idc["custom:"+key] = v
	}
	for key, v := range map[string]any{
		"iss": s.issuer, "sub": g.user.ID, "aud": g.audience, "exp": exp.Unix(), "iat": now.Unix(),
		"auth_time": g.authTime.Unix(), "token_use": "id", "sid": g.sid, "preferred_username": g.user.Username,
	} {
		idc[key] = v
	}
	for key, v := range map[string]string{"email": g.user.Email, "name": g.user.Name, "tenant_id": g.user.TenantID} {
		if v != "" {
			idc[key] = v
		}
	}
	if len(g.user.Roles) > 0 {
		idc["roles"] = g.user.Roles
	}
	id, err := signJSON(k.id, idc)
	if err != nil {
		return issued{}, err
	}
	return issued{access: access, id: id, expiresIn: int(math.Round(s.ttl.Seconds()))}, nil
}

func signJSON(sg jose.Signer, v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	obj, err := sg.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return obj.CompactSerialize()
}
