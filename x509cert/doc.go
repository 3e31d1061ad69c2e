// Package x509cert is apimtls's certificate core: what a certificate, a
// key, a CSR or a truststore is and whether API Gateway would accept it,
// with no storage, no AWS and no command line. The PKI directory and its
// lifecycle (package pki), the revocation decision (revocation), the
// Lambda authorizer and the local gateway all build on it; the authorizer
// links it without the inventory's database, the KMS client or PKCS #12.
//
// Functions whose results depend on randomness or time take a random
// source and a time, so tests can pin both.
//
// # Layout
//
//   - keys.go: the key types API Gateway accepts, generation, and the
//     signature algorithm each issuer key makes.
//   - pem.go: certificates and keys to PEM (keys as PKCS #8, optionally
//     encrypted) and back, and CSRs from PEM or DER; pemread.go: the strict
//     PEM reader every certificate file and truststore passes through, so
//     that apimtls and OpenSSL never see different certificates.
//   - csr.go: a CSR's signature, algorithm and key checked, and what of it
//     a client certificate keeps.
//   - profile.go: the CA, client and server certificate profiles (every
//     field with its reason), serial numbers, validity limits, subject and
//     SAN checks.
//   - signer.go: CASigner, the one seam every certificate and CRL is
//     signed through, and KeySigner, its implementation over any
//     crypto.Signer. Which signer a CA uses (its key file, AWS KMS, next
//     AWS Private CA) is pki's choice (pki/signer.go).
//   - rules.go and truststore.go: API Gateway's truststore rules, each
//     with a stable ID, and the validator that reports them;
//     verify.go: whether API Gateway would accept a client certificate,
//     in its own words when it refuses.
//   - fingerprint.go: SHA-256 fingerprints and the serial-number format
//     the inventory keys by.
package x509cert
