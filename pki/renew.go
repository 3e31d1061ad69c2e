package pki

import (
	"encoding/json"
	"path"

	bolt "go.etcd.io/bbolt"
)

// supersededDir is where a renewed client's old files move:
// superseded/<name>/<serial>/, out of clients/ so that clients/<name> is
// always the current certificate.
const supersededDir = "superseded"

// supersede records rec as the renewal of old in one transaction: rec is
// added, old is marked superseded and linked to it, its files move (on
// disk, after the commit) to superseded/<name>/<serial>, and the client's
// name points at rec.
func supersede(tx *bolt.Tx, old, rec *Record) error {
	certs := tx.Bucket(bucketCerts)
	if certs.Get([]byte(rec.Serial)) != nil {
		return errSerialInUse
	}
	o := *old
	o.Status = StatusSuperseded
	o.SupersededBy = rec.Serial
	o.Dir = path.Join(supersededDir, old.Name, old.Serial)
	o.Files = nil
	for _, f := range old.Files {
		o.Files = append(o.Files, path.Join(o.Dir, path.Base(f)))
	}
	for _, r := range []*Record{&o, rec} {
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := certs.Put([]byte(r.Serial), v); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketNames).Put(nameKey(rec.Kind, rec.Name), []byte(rec.Serial))
}
