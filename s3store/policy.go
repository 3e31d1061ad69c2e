package s3store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/apimtls/apimtls/internal/awserr"
)

// tlsOnlySid names the statement apimtls adds.
const tlsOnlySid = "DenyInsecureTransport"

func tlsOnlyStatement(bucket string) map[string]any {
	return map[string]any{
		"Sid": tlsOnlySid, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
		"Resource":  []string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"},
		"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}
}

// policyDoc is an IAM policy read loosely: statements may be one object or
// a list, and every field keeps its original form when written back.
type policyDoc struct {
	fields     map[string]json.RawMessage
	statements []map[string]any
}

func parsePolicy(policy string) (*policyDoc, error) {
	doc := &policyDoc{fields: map[string]json.RawMessage{}}
	if err := json.Unmarshal([]byte(policy), &doc.fields); err != nil {
		return nil, fmt.Errorf("its bucket policy is not JSON: %v", err)
	}
	raw := doc.fields["Statement"]
	if len(raw) == 0 {
		return doc, nil
	}
	if raw[0] == '{' {
		var one map[string]any
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("its bucket policy has an unreadable Statement: %v", err)
		}
		doc.statements = []map[string]any{one}
		return doc, nil
	}
	if err := json.Unmarshal(raw, &doc.statements); err != nil {
		return nil, fmt.Errorf("its bucket policy has an unreadable Statement: %v", err)
	}
	return doc, nil
}

// withTLSOnly merges the TLS-only deny into a policy ("" for none), and
// says whether anything changed: a policy that already denies requests
// without TLS is left as it is.
func withTLSOnly(policy, bucket string) (string, bool, error) {
	if policy == "" {
		out, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{tlsOnlyStatement(bucket)}})
		return string(out), true, err
	}
	doc, err := parsePolicy(policy)
	if err != nil {
		return "", false, err
	}
	for _, st := range doc.statements {
		if st["Effect"] == "Deny" && conditionHas(st, "aws:securetransport") {
			return policy, false, nil
		}
	}
	add := tlsOnlyStatement(bucket)
	for _, st := range doc.statements {
		if st["Sid"] == tlsOnlySid {
			add["Sid"] = tlsOnlySid + "Apimtls"
		}
	}
	doc.statements = append(doc.statements, add)
	stmts, err := json.Marshal(doc.statements)
	if err != nil {
		return "", false, err
	}
	doc.fields["Statement"] = stmts
	if _, ok := doc.fields["Version"]; !ok {
		doc.fields["Version"] = json.RawMessage(`"2012-10-17"`)
	}
	out, err := json.Marshal(doc.fields)
	return string(out), true, err
}

// conditionHas reports whether a statement's condition tests key (lower
// case), under any operator.
func conditionHas(st map[string]any, key string) bool {
	cond, _ := st["Condition"].(map[string]any)
	for _, tests := range cond {
		m, _ := tests.(map[string]any)
		for k := range m {
			if strings.ToLower(k) == key {
				return true
			}
		}
	}
	return false
}

// networkKeys are condition keys that a read made by an AWS service on
// the caller's behalf (a forward access session) does not satisfy: the
// request comes from the service's network, not the caller's.
var networkKeys = []string{"aws:sourceip", "aws:sourcevpce", "aws:sourcevpc", "aws:vpcsourceip"}

// ReadRisks names what lets the caller read a truststore object but stops
// API Gateway reading it on the caller's behalf, which fails at AWS with
// "Unable to access truststore URI ... version N/A" (docs/apigateway-rules.md,
// "Reading the truststore"): bucket policy statements conditioned on the
// caller's network without an aws:ViaAWSService exception, and SSE-KMS.
func (s *Client) ReadRisks(ctx context.Context, bucket, key, version string) ([]string, error) {
	var risks []string
	pol, err := s.API.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		risks = append(risks, policyRisks(aws.ToString(pol.Policy))...)
	case awserr.Code(err) == "NoSuchBucketPolicy" || unsupported(err):
	default:
		return nil, classify(err, "read the policy of bucket "+bucket)
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	head, err := s.API.HeadObject(ctx, in)
	if err != nil {
		return risks, classify(err, "read "+URI(bucket, key))
	}
	if head.ServerSideEncryption == types.ServerSideEncryptionAwsKms || head.ServerSideEncryption == types.ServerSideEncryptionAwsKmsDsse {
		risks = append(risks, fmt.Sprintf("%s is encrypted with the KMS key %s: API Gateway decrypts it through S3 on your behalf, so the key policy must let the caller use kms:Decrypt through S3 (kms:ViaService s3.%s.amazonaws.com), not only directly", URI(bucket, key), aws.ToString(head.SSEKMSKeyId), s.Region))
	}
	return risks, nil
}

func policyRisks(policy string) []string {
	doc, err := parsePolicy(policy)
	if err != nil {
		return []string{"bucket policy: " + err.Error()}
	}
	var risks []string
	for i, st := range doc.statements {
		var keys []string
		for _, k := range networkKeys {
			if conditionHas(st, k) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 || conditionHas(st, "aws:viaawsservice") || conditionHas(st, "aws:calledvia") {
			continue
		}
		name := fmt.Sprintf("statement %d", i+1)
		if sid, ok := st["Sid"].(string); ok && sid != "" {
			name = "statement " + sid
		}
		slices.Sort(keys)
		risks = append(risks, fmt.Sprintf("bucket policy %s (%s) tests %s, which API Gateway's read on your behalf does not pass: add the condition \"Bool\": {\"aws:ViaAWSService\": \"false\"} to it, or API Gateway will answer \"Unable to access truststore URI\"", name, st["Effect"], strings.Join(keys, ", ")))
	}
	return risks
}
