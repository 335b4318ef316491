package gpustats

import (
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder, signed and unsigned: it must never panic, and whatever it
// accepts must pass validation again and survive an encode/decode round trip.
func FuzzDecode(f *testing.F) {
	full, _ := Encode(fullReport(), nil)
	signed, _ := Encode(fullReport(), []byte("k"))
	f.Add([]byte(sollolPayload), false)
	f.Add(full, false)
	f.Add(signed, true)
	for _, h := range hostile() {
		if len(h.payload) < 4096 {
			f.Add([]byte(h.payload), false)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, sign bool) {
		d := Decoder{}
		if sign {
			d.Keys = [][]byte{[]byte("k")}
		}
		r, err := d.Decode(data, testNow)
		if err != nil {
			if RejectReason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if err := r.Validate(testNow, DefaultMaxSkew); err != nil {
			t.Fatalf("accepted report fails validation: %v", err)
		}
		b, err := Encode(r, nil)
		if err != nil {
			t.Fatalf("accepted report does not encode: %v", err)
		}
		if _, err := (&Decoder{}).Decode(b, testNow); err != nil {
			t.Fatalf("re-encoded report rejected: %v\n%s", err, b)
		}
		NewNode(r, nil) // must not panic either
	})
}
