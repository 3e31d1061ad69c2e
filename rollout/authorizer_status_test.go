package rollout

import (
	"strings"
	"testing"
)

// A partial deploy reads as what it is: the summary names every route a
// request reaches unchecked, and Unchecked (authorizer status's exit 1)
// holds the unprotected and the pending ones, not another authorizer's.
func TestAuthorizerStatusNamesUnchecked(t *testing.T) {
	route := func(key, state string) RouteState { return RouteState{Route: key, State: state} }
	for _, tc := range []struct {
		name      string
		res       AuthorizerResult
		authID    string
		summary   string
		unchecked string
	}{
		{"all protected", AuthorizerResult{APIID: "a1", Routes: []RouteState{route("GET /pets", "protected"), route("POST /pets", "protected")}},
			"au1", "a1: 2 of 2 routes protected by authorizer au1", ""},
		{"one left out", AuthorizerResult{APIID: "a1", Routes: []RouteState{route("GET /", "unprotected"), route("GET /pets", "protected")}},
			"au1", "a1: 1 of 2 routes protected by authorizer au1; 1 route unprotected: GET /", "GET /"},
		{"attached, not deployed, one left out", AuthorizerResult{APIID: "a1", PendingStages: []string{"prod"},
			Routes: []RouteState{route("GET /", "unprotected"), route("GET /pets", "pending deployment")}},
			"au1", "a1: authorizer au1 attached, but stages prod still serve a deployment without it; 1 route unprotected: GET /", "GET /,GET /pets"},
		{"another authorizer's route is the operator's", AuthorizerResult{APIID: "a1",
			Routes: []RouteState{route("GET /admin", "other"), route("GET /pets", "protected")}},
			"au1", "a1: 1 of 2 routes protected by authorizer au1", ""},
		{"no authorizer", AuthorizerResult{APIID: "a1", Routes: []RouteState{route("GET /", "unprotected"), route("GET /pets", "unprotected")}},
			"", "a1 has no apimtls authorizer: no route is checked for revocation", "GET /,GET /pets"},
		{"no routes", AuthorizerResult{APIID: "a1"}, "", "a1 has no apimtls authorizer: no route is checked for revocation", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusSummary(&tc.res, tc.authID); got != tc.summary {
				t.Errorf("summary %q, want %q", got, tc.summary)
			}
			var keys []string
			for _, rt := range tc.res.Unchecked() {
				keys = append(keys, rt.Route)
			}
			if got := strings.Join(keys, ","); got != tc.unchecked {
				t.Errorf("unchecked %q, want %q", got, tc.unchecked)
			}
		})
	}
}
