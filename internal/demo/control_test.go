package demo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// origin is the load balancer page origin the control API trusts in tests.
const origin = "http://127.0.0.1:8080"

func TestControlActions(t *testing.T) {
	app1 := startTarget(t, "app-1", nil)
	app2 := startTarget(t, "app-2", nil)
	srv := httptest.NewServer(NewControl([]*Target{app1, app2}, origin))
	t.Cleanup(srv.Close)

	// The steps run in order: each starts from the state the last one left.
	steps := []struct {
		name, method, path, origin, fetchSite string
		wantStatus                            int
		wantAlive                             bool // app-1 afterwards
	}{
		{name: "list", method: "GET", path: "/targets", wantStatus: 200, wantAlive: true},
		{name: "kill", method: "POST", path: "/targets/app-1/kill", wantStatus: 204},
		{name: "kill a dead target", method: "POST", path: "/targets/app-1/kill", wantStatus: 204},
		{name: "kill unknown", method: "POST", path: "/targets/nope/kill", wantStatus: 404},
		{name: "revive unknown", method: "POST", path: "/targets/nope/revive", wantStatus: 404},
		{name: "revive", method: "POST", path: "/targets/app-1/revive", wantStatus: 204, wantAlive: true},
		{name: "kill from the page origin", method: "POST", path: "/targets/app-1/kill", origin: origin, fetchSite: "same-site", wantStatus: 204},
		{name: "revive from another origin", method: "POST", path: "/targets/app-1/revive", origin: "https://evil.example", fetchSite: "cross-site", wantStatus: 403},
		{name: "revive from the page origin", method: "POST", path: "/targets/app-1/revive", origin: origin, fetchSite: "same-site", wantStatus: 204, wantAlive: true},
		{name: "wrong method", method: "GET", path: "/targets/app-1/kill", wantStatus: 405, wantAlive: true},
	}
	for _, st := range steps {
		req, err := http.NewRequestWithContext(t.Context(), st.method, srv.URL+st.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.origin != "" {
			req.Header.Set("Origin", st.origin)
			req.Header.Set("Sec-Fetch-Site", st.fetchSite)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != st.wantStatus {
			t.Errorf("%s: status = %d, want %d", st.name, resp.StatusCode, st.wantStatus)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", st.name, got, origin)
		}
		if app1.Alive() != st.wantAlive {
			t.Errorf("%s: app-1 alive = %v, want %v", st.name, app1.Alive(), st.wantAlive)
		}
	}
}

func TestControlList(t *testing.T) {
	app1 := startTarget(t, "app-1", nil)
	app2 := startTarget(t, "app-2", nil)
	_ = app2.Kill()
	srv := httptest.NewServer(NewControl([]*Target{app1, app2}, origin))
	t.Cleanup(srv.Close)
	resp, body := get(t, srv.Client(), srv.URL+"/targets", "")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got []targetStatus
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v in %q", err, body)
	}
	want := []targetStatus{{"app-1", app1.Address(), true}, {"app-2", app2.Address(), false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GET /targets = %+v, want %+v", got, want)
	}
}

func TestControlReviveClosedTarget(t *testing.T) {
	app1 := startTarget(t, "app-1", nil)
	_ = app1.Close()
	srv := httptest.NewServer(NewControl([]*Target{app1}, origin))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Post(srv.URL+"/targets/app-1/revive", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("status = %d, want 409", resp.StatusCode)
	}
}

func TestControlPreflight(t *testing.T) {
	tests := []struct {
		name, allowOrigin, wantOrigin, wantMethods string
	}{
		{name: "configured origin", allowOrigin: origin, wantOrigin: origin, wantMethods: "GET, POST"},
		{name: "no origin", allowOrigin: ""},
		{name: "malformed origin", allowOrigin: origin + "/page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(NewControl(nil, tt.allowOrigin))
			t.Cleanup(srv.Close)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, srv.URL+"/targets/app-1/kill", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("status = %d, want 204", resp.StatusCode)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantOrigin)
			}
			if got := resp.Header.Get("Access-Control-Allow-Methods"); got != tt.wantMethods {
				t.Errorf("Access-Control-Allow-Methods = %q, want %q", got, tt.wantMethods)
			}
		})
	}
}
