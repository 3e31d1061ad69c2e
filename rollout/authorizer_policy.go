package rollout

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/authorizer"
)

// TrustPolicy lets Lambda, and nothing else, assume the execution role.
const TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// RolePolicy is the execution role's whole permission: read the truststore
// object and the CRLs under the prefix (each version too, for a pinned
// truststore), and write the function's own log group. No s3:ListBucket:
// without it a missing CRL reads as 403 instead of 404, and the authorizer
// denies either way.
func RolePolicy(in AuthorizerInput, account string) string {
	logs := fmt.Sprintf("arn:aws:logs:%s:%s:log-group:/aws/lambda/%s:*", in.Region, account, in.FunctionName)
	p := map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "ReadTruststore", "Effect": "Allow", "Action": []string{"s3:GetObject", "s3:GetObjectVersion"},
			"Resource": "arn:aws:s3:::" + in.Bucket + "/" + in.Key},
		map[string]any{"Sid": "ReadCRLs", "Effect": "Allow", "Action": []string{"s3:GetObject", "s3:GetObjectVersion"},
			"Resource": "arn:aws:s3:::" + in.Bucket + "/" + in.Prefix + "*"},
		map[string]any{"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
			"Resource": logs},
	}}
	b, _ := json.Marshal(p)
	return string(b)
}

// Env is the function's environment: what the authorizer reads
// (authorizer/config.go).
func Env(in AuthorizerInput) map[string]string {
	env := map[string]string{
		authorizer.EnvTruststoreURI: "s3://" + in.Bucket + "/" + in.Key,
		authorizer.EnvCRLURI:        "s3://" + in.Bucket + "/" + in.Prefix,
	}
	if in.TruststoreVersion != "" {
		env[authorizer.EnvTruststoreVersion] = in.TruststoreVersion
	}
	// With result caching the answer must name every method: the
	// authorizer reads the TTL to know.
	if in.CacheTTL > 0 {
		env[authorizer.EnvResultCacheTTL] = strconv.Itoa(int(in.CacheTTL))
	}
	return env
}

// SourceArn scopes the invoke permission to the authorizers of one API.
func SourceArn(region, account, apiID string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/authorizers/*", region, account, apiID)
}

// identitySource keys the result cache on the client certificate when
// caching is on; without caching there is none, since a request lacking an
// identity source is refused with 401 before the authorizer runs.
func identitySource(t apigw.APIType, ttl int32) []string {
	if ttl == 0 {
		return nil
	}
	if t == apigw.REST {
		return []string{"context.identity.clientCert.serialNumber"}
	}
	return []string{"$context.identity.clientCert.serialNumber"}
}

func (r *Rollout) wantAuthorizer(t apigw.APIType, functionArn string, ttl int32) apigw.Authorizer {
	a := apigw.Authorizer{Name: AuthorizerName, Type: "REQUEST", TTL: ttl, IdentitySource: identitySource(t, ttl),
		URI: fmt.Sprintf("arn:aws:apigateway:%s:lambda:path/2015-03-31/functions/%s/invocations", regionOf(functionArn), functionArn)}
	if t == apigw.HTTP {
		a.PayloadVersion, a.SimpleResponses = "2.0", true
	}
	return a
}

func authorizerDetail(a apigw.Authorizer) string {
	s := fmt.Sprintf("%s, result cache %d s", a.Type, a.TTL)
	if a.PayloadVersion != "" {
		s += ", payload " + a.PayloadVersion
	}
	if a.SimpleResponses {
		s += ", simple responses"
	}
	if len(a.IdentitySource) > 0 {
		s += ", keyed on " + strings.Join(a.IdentitySource, ",")
	}
	return s
}

func lambdaArch(arch string) ltypes.Architecture {
	if arch == "amd64" {
		return ltypes.ArchitectureX8664
	}
	return ltypes.ArchitectureArm64
}

func codeSha(zip []byte) string {
	h := sha256.Sum256(zip)
	return base64.StdEncoding.EncodeToString(h[:])
}

func envText(env map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		parts = append(parts, k+"="+env[k])
	}
	return strings.Join(parts, " ")
}

// canonical re-encodes a JSON document so two encodings compare equal.
func canonical(doc string) string {
	var v any
	if json.Unmarshal([]byte(doc), &v) != nil {
		return doc
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func decodeDoc(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

func regionOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 3 {
		return parts[3]
	}
	return ""
}

func accountOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 4 {
		return parts[4]
	}
	return ""
}
