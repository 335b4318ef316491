package gpustats

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// sigPrefix and the closing `"}` frame the signature member, always written last and without spaces.
const sigPrefix = `,"sig":"`

// sigSuffixLen is the length of `,"sig":"<64 hex digits>"}`.
const sigSuffixLen = len(sigPrefix) + 2*sha256.Size + 2

// Sign appends the member "sig", hex(HMAC-SHA256(key, payload)), to a compact JSON object. A verifier strips the
// member and checks the bytes that remain, so the signature does not depend on how JSON is re-encoded.
func Sign(payload, key []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	sum := mac.Sum(nil)
	out := make([]byte, 0, len(payload)+sigSuffixLen)
	out = append(out, payload[:len(payload)-1]...)
	out = append(out, sigPrefix...)
	out = hex.AppendEncode(out, sum)
	return append(out, '"', '}')
}

// Verify checks the signature member of a signed report against each key and returns the payload without it.
func Verify(data []byte, keys [][]byte) ([]byte, error) {
	n := len(data)
	if n < sigSuffixLen+2 || !bytes.Equal(data[n-sigSuffixLen:n-sigSuffixLen+len(sigPrefix)], []byte(sigPrefix)) ||
		!bytes.HasSuffix(data, []byte(`"}`)) {
		return nil, reject(RejectUnsigned, "no signature member at the end of the report")
	}
	got := make([]byte, sha256.Size)
	if _, err := hex.Decode(got, data[n-sigSuffixLen+len(sigPrefix):n-2]); err != nil {
		return nil, reject(RejectBadSignature, "signature is not hex")
	}
	payload := make([]byte, 0, n-sigSuffixLen+1)
	payload = append(payload, data[:n-sigSuffixLen]...)
	payload = append(payload, '}')
	for _, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write(payload)
		if hmac.Equal(mac.Sum(nil), got) {
			return payload, nil
		}
	}
	return nil, reject(RejectBadSignature, "signature matches no configured key")
}
