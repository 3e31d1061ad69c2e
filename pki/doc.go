// Package pki is apimtls's certificate engine: key generation, the
// certificate profiles of a private CA hierarchy that API Gateway accepts,
// CSR checks, PEM and PKCS #12 encoding, and the PKI directory with its
// crash-safe inventory.
//
// It knows nothing of the command line or AWS. Functions whose results
// depend on randomness or time take a random source and a time, so tests
// can pin both.
package pki
