package fakeapigw

import (
	"encoding/json"
	"net/http"
)

// acm serves ACM's DescribeCertificate (JSON 1.1 protocol).
func (f *Fake) acm(w http.ResponseWriter, target string, body []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(status int, code, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	}
	if target != "CertificateManager.DescribeCertificate" {
		fail(400, "UnknownOperationException", target)
		return
	}
	var in struct{ CertificateArn string }
	if json.Unmarshal(body, &in) != nil {
		fail(400, "ValidationException", "invalid body")
		return
	}
	f.mu.Lock()
	c := f.Certs[in.CertificateArn]
	f.mu.Unlock()
	if c == nil {
		fail(400, "ResourceNotFoundException", "Could not find certificate "+in.CertificateArn)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"Certificate": map[string]any{
		"CertificateArn": c.Arn, "DomainName": c.Domain, "Type": c.Type, "Status": c.Status}})
}
