package revocation

import (
	"bytes"
	"hash/maphash"
	"math/bits"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// serialIndex is an open-addressing hash set of the revoked serials. Each
// slot holds the entry's offset in the CRL's DER and 32 bits of the
// serial's hash; the serial itself is read from the DER only when those bits
// match. A Go map of a million strings costs twice the time and memory (a
// string header per key), and parsing must stay under a second.
type serialIndex struct {
	der   []byte
	slots []slot // length a power of two, at most half full
	n     int
	seed  maphash.Seed
}

type slot struct {
	tag uint32
	off uint32 // 0 = empty; no entry starts at offset 0 of a CRL
}

// build indexes the entries at offs, whose serials hash to hashes.
func (x *serialIndex) build(offs []uint32, hashes []uint64) {
	size := 8
	if len(offs) > 2 {
		size = 1 << bits.Len(uint(2*len(offs)-1))
	}
	x.slots = make([]slot, size)
	mask := uint64(size - 1)
	for i, off := range offs {
		h := hashes[i]
		tag := uint32(h >> 32)
		key := x.serialAt(off)
		for p := h & mask; ; p = (p + 1) & mask {
			s := &x.slots[p]
			if s.off == 0 {
				s.tag, s.off = tag, off
				x.n++
				break
			}
			if s.tag == tag && bytes.Equal(x.serialAt(s.off), key) {
				break // listed twice: one is enough
			}
		}
	}
}

// find returns the offset of key's entry.
func (x *serialIndex) find(key []byte) (uint32, bool) {
	if x.n == 0 {
		return 0, false
	}
	h := maphash.Bytes(x.seed, key)
	tag := uint32(h >> 32)
	mask := uint64(len(x.slots) - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		s := x.slots[p]
		if s.off == 0 {
			return 0, false
		}
		if s.tag == tag && bytes.Equal(x.serialAt(s.off), key) {
			return s.off, true
		}
	}
}

// serialAt reads the normalised serial of the entry at off; the entry was
// checked when it was indexed.
func (x *serialIndex) serialAt(off uint32) []byte {
	s := cryptobyte.String(x.der[off:])
	var entry, serial cryptobyte.String
	s.ReadASN1(&entry, cbasn1.SEQUENCE)
	entry.ReadASN1(&serial, cbasn1.INTEGER)
	return normalise(serial)
}
