package pki

import "path/filepath"

// Layout names every path in a PKI directory, so that no other package
// re-derives them (docs/pki.md describes the directory):
//
//	inventory.db                  the inventory (bbolt)
//	ca/<name>/cert.pem, key.pem   a CA
//	clients/<name>/cert.pem, key.pem, chain.pem, <name>.p12
//	truststore.pem                written by truststore build
//	pushed.json                   the last truststore push
//	crl/<ca name>.crl             a CA's latest CRL, DER (ca/<name>/crl.pem: PEM)
//	superseded/<name>/<serial>/   certificates a renewal replaced
//	.staging/                     issuance in progress
type Layout struct{ Dir string }

// Inventory is the inventory database.
func (l Layout) Inventory() string { return filepath.Join(l.Dir, inventoryFile) }

// Truststore is where truststore build writes by default, and where every
// command that reads a truststore looks when none is given.
func (l Layout) Truststore() string { return filepath.Join(l.Dir, TruststoreFile) }

// Pushed is the record of the last truststore push.
func (l Layout) Pushed() string { return filepath.Join(l.Dir, pushedFile) }

// Staging holds issuances that are not committed yet.
func (l Layout) Staging() string { return filepath.Join(l.Dir, stagingDir) }

// CAs is the folder of every CA.
func (l Layout) CAs() string { return filepath.Join(l.Dir, caDir) }

// Clients is the folder of every client.
func (l Layout) Clients() string { return filepath.Join(l.Dir, clientsDir) }

// Superseded is the folder of the certificates renewals replaced,
// superseded/<name>/<serial>/.
func (l Layout) Superseded() string { return filepath.Join(l.Dir, supersededDir) }

// CADir is one CA's folder.
func (l Layout) CADir(name string) string { return filepath.Join(l.Dir, caDir, name) }

// CACert is a CA's certificate.
func (l Layout) CACert(name string) string { return filepath.Join(l.CADir(name), certFile) }

// CAKey is a CA's private key (absent for a CA whose key is elsewhere).
func (l Layout) CAKey(name string) string { return filepath.Join(l.CADir(name), keyFile) }

// ClientDir is one client's folder.
func (l Layout) ClientDir(name string) string { return filepath.Join(l.Dir, clientsDir, name) }

// ClientCert is a client's certificate.
func (l Layout) ClientCert(name string) string { return filepath.Join(l.ClientDir(name), certFile) }

// ClientKey is a client's private key (absent for CSR-signed clients).
func (l Layout) ClientKey(name string) string { return filepath.Join(l.ClientDir(name), keyFile) }

// ClientChain is the client certificate followed by its issuing CAs, root
// excluded: what curl --cert and TLS clients send.
func (l Layout) ClientChain(name string) string { return filepath.Join(l.ClientDir(name), chainFile) }

// ClientP12 is the client's PKCS #12 file, with --p12.
func (l Layout) ClientP12(name string) string {
	return filepath.Join(l.ClientDir(name), name+".p12")
}

// CRLs is the folder of the CAs' CRLs in DER, what serve and crl push read.
func (l Layout) CRLs() string { return filepath.Join(l.Dir, crlDir) }

// CRL is a CA's latest CRL, DER.
func (l Layout) CRL(name string) string { return filepath.Join(l.Dir, crlDir, name+".crl") }

// CRLPEM is a CA's latest CRL, PEM, beside its certificate.
func (l Layout) CRLPEM(name string) string { return filepath.Join(l.CADir(name), "crl.pem") }

// RecordDir is the folder of an inventory record, absolute.
func (l Layout) RecordDir(r *Record) string { return filepath.Join(l.Dir, filepath.FromSlash(r.Dir)) }

// Layout is the store's directory layout.
func (s *Store) Layout() Layout { return Layout{Dir: s.Dir} }

// Rotation is the phase record of the rotation of CA name (rotate ca).
func (l Layout) Rotation(name string) string {
	return filepath.Join(l.Dir, rotationDir, name+".json")
}

// Rotations is the folder of every rotation record.
func (l Layout) Rotations() string { return filepath.Join(l.Dir, rotationDir) }

const rotationDir = "rotation"
