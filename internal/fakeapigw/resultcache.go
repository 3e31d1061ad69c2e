package fakeapigw

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ResultCache is API Gateway's cache of a Lambda authorizer's answers, as
// a request through a REST API (or an HTTP API with the IAM policy form)
// meets it. AWS: "Why is my API Gateway proxy resource with a Lambda
// authorizer that has caching activated returning HTTP 403 errors?"
// (Knowledge Center, api-gateway-lambda-authorization-errors) and
// "Resources and conditions for Lambda authorizer output":
//
//   - With a TTL above 0 the answer is cached per identity (the values of
//     the identity sources), and the cached policy is applied to every
//     later request of that identity for the TTL, whatever its method or
//     path: the authorizer is not invoked again.
//   - A request is allowed only when an Allow statement for
//     execute-api:Invoke names its method ARN (wildcards * and ?) and no
//     Deny statement does; otherwise 403 "User is not authorized to access
//     this resource".
//   - With TTL 0 every request invokes the authorizer.
//
// The fake evaluates the policy itself, never with the product's logic.
type ResultCache struct {
	TTL   time.Duration
	Clock Clock
	// Invoke runs the authorizer on an event and returns its answer (the
	// JSON Lambda returned).
	Invoke func(event []byte) ([]byte, error)

	mu      sync.Mutex
	entries map[string]cachedPolicy
	// Invocations counts the calls of Invoke.
	Invocations int
}

type cachedPolicy struct {
	answer []byte
	until  time.Time
}

// Authorize decides one request of identity for methodArn, from the cache
// or by invoking the authorizer with event: true is let through, false
// is a 403.
func (c *ResultCache) Authorize(identity, methodArn string, event []byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Clock.Now()
	e, ok := c.entries[identity]
	if c.TTL <= 0 || !ok || !now.Before(e.until) {
		c.Invocations++
		answer, err := c.Invoke(event)
		if err != nil {
			return false, err
		}
		e = cachedPolicy{answer: answer, until: now.Add(c.TTL)}
		if c.TTL > 0 {
			if c.entries == nil {
				c.entries = map[string]cachedPolicy{}
			}
			c.entries[identity] = e
		}
	}
	return policyAllows(e.answer, methodArn)
}

// policyAllows evaluates an authorizer's IAM policy answer for one method.
func policyAllows(answer []byte, methodArn string) (bool, error) {
	var r struct {
		PolicyDocument struct {
			Statement []struct {
				Effect   string
				Action   any
				Resource any
			}
		} `json:"policyDocument"`
	}
	if err := json.Unmarshal(answer, &r); err != nil {
		return false, fmt.Errorf("the authorizer's answer is not an IAM policy response: %w", err)
	}
	allow := false
	for _, st := range r.PolicyDocument.Statement {
		if !matchAny(strings1(st.Action), "execute-api:Invoke") || !matchAny(strings1(st.Resource), methodArn) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false, nil
		case "Allow":
			allow = true
		}
	}
	return allow, nil
}

// strings1 reads a policy element that is a string or a list of them.
func strings1(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(p)) + "$"
		if regexp.MustCompile(re).MatchString(s) {
			return true
		}
	}
	return false
}
