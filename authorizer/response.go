package authorizer

import (
	"context"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/apimtls/apimtls/revocation"
)

// response builds the answer API Gateway expects for the event's payload.
// Without result caching the policy names only the method or route asked
// for, never a wildcard. With caching, API Gateway keeps the policy per
// identity and applies it to every method the identity calls within the
// TTL (AWS Knowledge Center, "api-gateway-lambda-authorization-errors"):
// a policy naming one method would refuse every other with 403, so it
// names the whole API stage, which is what the certificate may call; the
// decision, allow or deny, is the certificate's and not the method's.
func (h *Handler) response(ev *Event, d revocation.Decision) any {
	ctx := decisionContext(d)
	if ev.Payload == PayloadHTTPV2 && h.Config.SimpleResponse {
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: d.Allow, Context: ctx}
	}
	effect := "Deny"
	if d.Allow {
		effect = "Allow"
	}
	principal := "unauthenticated"
	if fp, ok := ctx["fingerprintSha256"].(string); ok && fp != "" {
		principal = fp
	}
	policy := events.APIGatewayCustomAuthorizerPolicy{
		Version: "2012-10-17",
		Statement: []events.IAMPolicyStatement{{
			Action:   []string{"execute-api:Invoke"},
			Effect:   effect,
			Resource: []string{h.policyResource(ev.Resource)},
		}},
	}
	if ev.Payload == PayloadHTTPV2 {
		return events.APIGatewayV2CustomAuthorizerIAMPolicyResponse{PrincipalID: principal, PolicyDocument: policy, Context: ctx}
	}
	return events.APIGatewayCustomAuthorizerResponse{PrincipalID: principal, PolicyDocument: policy, Context: ctx}
}

// policyResource is what the policy names: the method or route asked
// for, or with result caching on every method of its API stage,
// arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/*/*.
func (h *Handler) policyResource(arn string) string {
	if h.Config.ResultCacheTTL <= 0 {
		return arn
	}
	i := strings.LastIndex(arn, ":")
	parts := strings.SplitN(arn[i+1:], "/", 3)
	if i < 0 || len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return arn // not a method ARN: name it alone
	}
	return arn[:i+1] + parts[0] + "/" + parts[1] + "/*/*"
}

// decisionContext is the context passed on: the certificate for an allow
// (strings only, as API Gateway requires), the reason for a deny.
func decisionContext(d revocation.Decision) map[string]any {
	ctx := map[string]any{"reason": string(d.Reason)}
	if d.Cert != nil {
		c := revocation.Describe(d.Cert)
		ctx["subject"] = c.Subject
		ctx["issuer"] = c.Issuer
		ctx["serialNumber"] = c.SerialNumber
		ctx["fingerprintSha256"] = c.FingerprintSHA256
		ctx["notAfter"] = c.NotAfter
	}
	if len(d.SoftFailed) > 0 {
		var s []string
		for _, r := range d.SoftFailed {
			s = append(s, string(r))
		}
		ctx["softFailed"] = strings.Join(s, ",")
	}
	return ctx
}

// logDecision writes one JSON line per deny (and per soft-failed allow);
// plain allows only at debug level, since they are the bulk of the traffic.
func (h *Handler) logDecision(ev *Event, d revocation.Decision) {
	level := slog.LevelDebug
	if !d.Allow || len(d.SoftFailed) > 0 {
		level = slog.LevelWarn
	}
	if !h.Log.Enabled(context.Background(), level) {
		return
	}
	attrs := []any{"reason", string(d.Reason), "payload", ev.Payload.String(), "requestId", ev.RequestID, "resource", ev.Resource}
	if d.Detail != "" {
		attrs = append(attrs, "detail", d.Detail)
	}
	if d.Cert != nil {
		c := revocation.Describe(d.Cert)
		attrs = append(attrs, "subject", c.Subject, "issuer", c.Issuer, "serialNumber", c.SerialNumber, "fingerprintSha256", c.FingerprintSHA256)
	}
	switch {
	case !d.Allow:
		h.Log.Warn("deny", attrs...)
	case len(d.SoftFailed) > 0:
		h.Log.Warn("allow despite unknown revocation status (soft-fail)", attrs...)
	default:
		h.Log.Debug("allow", attrs...)
	}
}
