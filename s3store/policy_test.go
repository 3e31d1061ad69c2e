package s3store

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestWithTLSOnly(t *testing.T) {
	// A policy of its own: every statement kept, the deny added.
	own := `{"Version":"2012-10-17","Id":"keep-me","Statement":[{"Sid":"Readers","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/r"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`
	merged, changed, err := withTLSOnly(own, "b")
	if err != nil || !changed {
		t.Fatalf("changed %v err %v", changed, err)
	}
	var doc struct {
		ID        string           `json:"Id"`
		Statement []map[string]any `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(merged), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != "keep-me" || len(doc.Statement) != 2 || doc.Statement[0]["Sid"] != "Readers" || doc.Statement[1]["Sid"] != tlsOnlySid {
		t.Fatalf("merged policy lost something: %s", merged)
	}
	// Already denying plain HTTP: left exactly as it is.
	if again, changed, err := withTLSOnly(merged, "b"); err != nil || changed || again != merged {
		t.Fatalf("a TLS-only policy was rewritten: changed %v err %v", changed, err)
	}
	// A single statement object, not a list.
	single := `{"Version":"2012-10-17","Statement":{"Sid":"One","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`
	if m, changed, err := withTLSOnly(single, "b"); err != nil || !changed || !strings.Contains(m, `"One"`) {
		t.Fatalf("single statement: %s %v %v", m, changed, err)
	}
	// No policy: the deny alone.
	if m, changed, err := withTLSOnly("", "b"); err != nil || !changed || !strings.Contains(m, "aws:SecureTransport") {
		t.Fatalf("empty: %s %v %v", m, changed, err)
	}
	// Not JSON: refused, never replaced.
	if _, _, err := withTLSOnly("{not json", "b"); err == nil {
		t.Fatal("an unreadable policy would be replaced")
	}
}

func TestPolicyRisks(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		risks        int
	}{
		{"source IP deny without exception", `{"Statement":[{"Sid":"OfficeOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}`, 1},
		{"source IP deny with the ViaAWSService exception", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"},"Bool":{"aws:ViaAWSService":"false"}}}]}`, 0},
		{"VPC endpoint only", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}}]}`, 1},
		{"TLS only is fine", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, 0},
		{"allow by source IP", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"AWS:SOURCEIP":"203.0.113.0/24"}}}]}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := policyRisks(tc.policy); len(got) != tc.risks {
				t.Fatalf("risks %q, want %d", got, tc.risks)
			}
		})
	}
}
