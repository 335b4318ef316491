package gpustats

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxReportBytes bounds an encoded report. A node with 64 GPUs and thousands of installed models stays well below.
const MaxReportBytes = 1 << 20

// DefaultMaxSkew is how far in the future a report's timestamp may lie before it is rejected: node clocks drift.
const DefaultMaxSkew = 5 * time.Second

// Why a report was rejected; each is a label value of the rejected-reports metric.
const (
	RejectTooLarge     = "too_large"
	RejectMalformed    = "malformed"
	RejectInvalid      = "invalid"
	RejectFuture       = "future"
	RejectUnsigned     = "unsigned"
	RejectBadSignature = "bad_signature"
	RejectWrongKey     = "wrong_key"
	RejectOutOfOrder   = "out_of_order"
)

// RejectError says why an untrusted report was not accepted.
type RejectError struct {
	// Reason is one of the Reject constants.
	Reason string
	Err    error
}

func (e *RejectError) Error() string {
	return "gpustats: report rejected (" + e.Reason + "): " + e.Err.Error()
}
func (e *RejectError) Unwrap() error { return e.Err }

// RejectReason returns the Reject constant carried by err, or "" when err is not a *RejectError.
func RejectReason(err error) string {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

func reject(reason, format string, args ...any) error {
	return &RejectError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Encode writes r as compact JSON and, when key is non-empty, appends the HMAC member "sig" last (see Sign).
func Encode(r *Report, key []byte) ([]byte, error) {
	if r.GPUs == nil {
		// SOLLOL's reader expects a list, never null.
		c := *r
		c.GPUs = []GPU{}
		r = &c
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("gpustats: encoding report of %q: %w", r.NodeID, err)
	}
	if len(key) > 0 {
		b = Sign(b, key)
	}
	return b, nil
}

// Decoder turns untrusted bytes from Redis into a validated Report. The zero value accepts unsigned reports.
type Decoder struct {
	// Keys are the accepted HMAC keys. When any is set, a report must carry a valid signature made with one of
	// them; two keys allow a rotation without downtime.
	Keys [][]byte
	// MaxSkew bounds how far in the future a timestamp may lie; zero means DefaultMaxSkew.
	MaxSkew time.Duration
}

// Decode checks size, signature, JSON and values, in that order, and returns the report or a *RejectError.
func (d *Decoder) Decode(data []byte, now time.Time) (*Report, error) {
	if len(data) > MaxReportBytes {
		return nil, reject(RejectTooLarge, "%d bytes, limit %d", len(data), MaxReportBytes)
	}
	if len(d.Keys) > 0 {
		payload, err := Verify(data, d.Keys)
		if err != nil {
			return nil, err
		}
		data = payload
	}
	r := new(Report)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, reject(RejectMalformed, "%v", err)
	}
	skew := d.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if err := r.Validate(now, skew); err != nil {
		return nil, err
	}
	return r, nil
}
