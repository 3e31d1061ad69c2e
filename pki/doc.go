// Package pki is the PKI directory and its lifecycle: CAs created and
// opened for signing, clients issued one at a time or in bulk, renewed,
// revoked and exported (with PKCS #12), CRLs signed, the truststore built
// from what the inventory holds, and the crash-safe inventory itself.
//
// What a certificate is, the profiles it is made from, keys, PEM, CSR
// checks and API Gateway's truststore rules live in the stateless core,
// package x509cert, which pki imports and which imports nothing of pki.
//
// It knows nothing of the command line. Functions whose results depend on
// randomness or time take a random source and a time, so tests can pin
// both.
//
// # Layout
//
// The PKI directory: store.go holds Store, names and lookups, recovery
// of interrupted work (.staging), and opening a CA to sign; ca.go,
// client.go, bulk.go (with bulkinput.go, its CSV and CSR-folder input)
// and renew.go issue; revoke.go and crl.go revoke and sign CRLs;
// truststore_build.go bundles the inventory's CAs; export.go reads
// bundles back; pushed.go remembers the truststore last pushed;
// layout.go names every path; files.go, rename_*.go and batchlock_*.go
// write, move and lock files as the crash rules require.
//
// # Where records live: one seam, two backends
//
// A Store keeps its records in one backend (backend.go), which answers
// every lookup and listing, reads certificates, records revocations,
// hands out CRL numbers and checks that a CRL drops no revocation, and
// carries out the two commit protocols: a single issuance and a bulk
// batch. Store's own methods hold what both share, and call the backend
// for the rest; one new record operation is a method in backend.go and
// one in each backend file:
//
//   - backend_bolt.go, the local inventory (OpenStore): inventory.db, a
//     bbolt file under an exclusive lock; the commit point is one
//     transaction. inventory.go and listindex.go hold its record codec and
//     listing index, damage.go its damage detection, rebuild.go its
//     rebuild from the files.
//   - backend_shared.go, a shared store (OpenShared): a Remote (the
//     sharedstore package keeps it in S3) with create-only and conditional
//     writes and no lock; the commit point is one create. shared.go holds
//     what its CRLs list when records are damaged and the check against
//     the CRLs it keeps; sharedcheck.go the checks on records and
//     certificates anyone who may write to the store could have planted.
//
// # Where CAs sign: one seam
//
// Every certificate and CRL is signed through x509cert.CASigner (in
// x509cert/signer.go, where the profiles that use it live), and
// openIssuer (signer.go here) is the one place that picks the signer from
// where the CA's record says its key lives:
//
//   - a key file: x509cert.KeySigner over the decoded key
//     (loadFileIssuer, signer.go);
//   - AWS KMS: x509cert.KeySigner over a KMSSigner, whose every signature
//     is one KMS Sign request (kms.go, loadKMSIssuer). kms.go is the only
//     file that reaches AWS, through the KMSAPI interface the CLI fills;
//   - AWS Private CA (next, not built): it returns whole certificates
//     rather than signatures, so it implements CASigner's SignCertificate
//     itself, set as x509cert.Issuer.Signer, in a file of its own beside
//     kms.go.
package pki
