package snowflake

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"

	bw "github.com/bwmarrin/snowflake"
)

// One Fuzz target per parser. Each checks that bad input gives an error
// wrapping ErrInvalidID (never a panic or a wrapped-around value), that what
// parses is a valid ID that encodes and parses back to itself, and that
// bwmarrin/snowflake reads the same value wherever it reads it correctly.
// FuzzID goes the other way: every int64 through every encoder and back.

func seedStrings(f *testing.F, format func(ID) string, extra ...string) {
	for _, id := range sampleIDs()[:20] {
		f.Add(format(id))
	}
	for _, s := range append(extra, "", "0", "-0", "-1", "+1", " 1", "1 ", "\x00", "\xff", "9223372036854775807", "9223372036854775808") {
		f.Add(s)
	}
}

// checkParsed holds for every parser's result.
func checkParsed(t *testing.T, in string, id ID, err error, format func(ID) string, parse func(string) (ID, error)) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrInvalidID) || id != 0 {
			t.Fatalf("parse(%q) = %d, %v: want 0 and an error wrapping ErrInvalidID", in, id, err)
		}
		return
	}
	if id < 0 {
		t.Fatalf("parse(%q) = %d: negative", in, id)
	}
	out := format(id)
	back, err := parse(out)
	if err != nil || back != id {
		t.Fatalf("parse(%q) = %d, which encodes as %q and parses back as %d, %v", in, id, out, back, err)
	}
}

func FuzzParseString(f *testing.F) {
	seedStrings(f, ID.String, "00012", "1e3", "0x1f", "١")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseString(s)
		checkParsed(t, s, id, err, ID.String, ParseString)
		// ParseBytes and UnmarshalText read the same grammar.
		id2, err2 := ParseBytes([]byte(s))
		var id3 ID
		err3 := id3.UnmarshalText([]byte(s))
		if id2 != id || (err2 == nil) != (err == nil) || (err3 == nil) != (err == nil) || err == nil && id3 != id {
			t.Fatalf("%q: ParseString %d, %v; ParseBytes %d, %v; UnmarshalText %d, %v", s, id, err, id2, err2, id3, err3)
		}
		if theirs, bwErr := bw.ParseString(s); err == nil && (bwErr != nil || int64(theirs) != int64(id)) {
			t.Fatalf("%q: ours %d, bwmarrin %d, %v", s, id, theirs, bwErr)
		}
	})
}

func FuzzParseBase2(f *testing.F) {
	seedStrings(f, ID.Base2, "102", "0b1")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseBase2(s)
		checkParsed(t, s, id, err, ID.Base2, ParseBase2)
		if theirs, bwErr := bw.ParseBase2(s); (bwErr == nil && theirs >= 0) != (err == nil) || err == nil && int64(theirs) != int64(id) {
			t.Fatalf("%q: ours %d, %v; bwmarrin %d, %v", s, id, err, theirs, bwErr)
		}
	})
}

func FuzzParseBase36(f *testing.F) {
	seedStrings(f, ID.Base36, "1Y2P0IJ32E8E7", "1y2p0ij32e8e8", "zz_z")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseBase36(s)
		checkParsed(t, s, id, err, ID.Base36, ParseBase36)
		if theirs, bwErr := bw.ParseBase36(s); (bwErr == nil && theirs >= 0) != (err == nil) || err == nil && int64(theirs) != int64(id) {
			t.Fatalf("%q: ours %d, %v; bwmarrin %d, %v", s, id, err, theirs, bwErr)
		}
	})
}

// bwmarrin's base-32 and base-58 parsers wrap around above 2^63-1, so ours
// must agree with them only where the value fits.
func fuzzPositional(f *testing.F, a *alphabet, format func(ID) string, parse func(string) (ID, error), theirs func([]byte) (bw.ID, error), extra ...string) {
	seedStrings(f, format, extra...)
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parse(s)
		checkParsed(t, s, id, err, format, parse)
		v, bwErr := theirs([]byte(s))
		if err == nil && (bwErr != nil || int64(v) != int64(id)) {
			t.Fatalf("%q: ours %d, bwmarrin %d, %v", s, id, v, bwErr)
		}
		inAlphabet := s != ""
		for i := 0; i < len(s); i++ {
			inAlphabet = inAlphabet && bytes.IndexByte(a.digits, s[i]) >= 0
		}
		// bwmarrin reads bytes outside the alphabet as zero digits; ours
		// must refuse them, and agree with it on the rest up to 2^63-1.
		if err == nil && !inAlphabet {
			t.Fatalf("%q has characters outside the alphabet, parsed as %d", s, id)
		}
		if err != nil && inAlphabet && bwErr == nil && v >= 0 && len(s) < 10 {
			t.Fatalf("%q: bwmarrin reads %d (short, so no wrap-around), ours fails: %v", s, v, err)
		}
	})
}

func FuzzParseBase32(f *testing.F) {
	fuzzPositional(f, &base32Alphabet, ID.Base32, ParseBase32, bw.ParseBase32, "yyyb", "eyyyyyyyyyyyy", "zzzzzzzzzzzzz", "0")
}

func FuzzParseBase58(f *testing.F) {
	fuzzPositional(f, &base58Alphabet, ID.Base58, ParseBase58, bw.ParseBase58, "1112", "npL6MjP8Qfd", "JPwcyDCgEuv", "0OIl")
}

func FuzzParseBase64(f *testing.F) {
	seedStrings(f, ID.Base64, "LTE=", "MS4w", "MTIz\n", "MTIz", "MTI=", "OTIyMzM3MjAzNjg1NDc3NTgwOA==")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseBase64(s)
		checkParsed(t, s, id, err, ID.Base64, ParseBase64)
	})
}

func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range []string{`"123"`, `123`, `null`, `"-1"`, `-1`, `1.5`, `1e3`, `"12\u0033"`, `""`, `"`, `true`, `{}`,
		` 123`, `"9223372036854775807"`, `9223372036854775808`, `0123`, `"0123"`, `"\ud800"`, "\"1\x00\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const before = ID(42)
		id := before
		err := id.UnmarshalJSON(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) || id != before {
				t.Fatalf("UnmarshalJSON(%q) = %d, %v: want no change and ErrInvalidID", b, id, err)
			}
			return
		}
		if string(b) == "null" {
			if id != before {
				t.Fatalf("null changed the ID to %d", id)
			}
			return
		}
		if id < 0 || !json.Valid(b) {
			t.Fatalf("UnmarshalJSON(%q) accepted %d (valid JSON: %v)", b, id, json.Valid(b))
		}
		out, err := id.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back ID
		if err := json.Unmarshal(out, &back); err != nil || back != id {
			t.Fatalf("%q -> %d -> %s -> %d, %v", b, id, out, back, err)
		}
	})
}

func FuzzScan(f *testing.F) {
	f.Add(uint8(0), "", int64(5))
	f.Add(uint8(0), "", int64(-5))
	f.Add(uint8(1), "123", int64(0))
	f.Add(uint8(2), "-123", int64(0))
	f.Add(uint8(2), "9223372036854775808", int64(0))
	f.Add(uint8(3), "", int64(0))
	f.Add(uint8(4), "", int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, kind uint8, s string, n int64) {
		var src any
		switch kind % 5 {
		case 0:
			src = n
		case 1:
			src = s
		case 2:
			src = []byte(s)
		case 3:
			src = nil
		case 4:
			src = uint64(n)
		}
		const before = ID(42)
		id := before
		if err := id.Scan(src); err != nil {
			if !errors.Is(err, ErrInvalidID) || id != before {
				t.Fatalf("Scan(%#v) = %d, %v", src, id, err)
			}
			return
		}
		v, err := id.Value()
		if err != nil {
			t.Fatalf("Scan(%#v) = %d, whose Value fails: %v", src, id, err)
		}
		var back ID
		if err := back.Scan(v); err != nil || back != id {
			t.Fatalf("Scan(%#v) = %d -> Value %v -> %d, %v", src, id, v, back, err)
		}
	})
}

// FuzzID: every int64 through every encoder (which must not panic) and back
// through its parser, including ParseInt64 and ParseIntBytes.
func FuzzID(f *testing.F) {
	for _, id := range sampleIDs()[:20] {
		f.Add(int64(id))
	}
	f.Add(int64(-1))
	f.Add(int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, v int64) {
		id := ID(v)
		for _, e := range encodings {
			s := e.ours(id)
			back, err := e.parse(s)
			if v >= 0 && (err != nil || back != id) {
				t.Fatalf("%s(%d) = %q parses as %d, %v", e.name, v, s, back, err)
			}
			if v < 0 && !errors.Is(err, ErrInvalidID) {
				t.Fatalf("%s(%d) = %q parses as %d, %v; want ErrInvalidID", e.name, v, s, back, err)
			}
			if v >= 0 && s != e.theirs(bw.ID(v)) {
				t.Fatalf("%s(%d) = %q, bwmarrin %q", e.name, v, s, e.theirs(bw.ID(v)))
			}
		}
		got, err := ParseInt64(v)
		if (err == nil) != (v >= 0) || err == nil && got != id {
			t.Fatalf("ParseInt64(%d) = %d, %v", v, got, err)
		}
		for _, marshal := range []func() ([]byte, error){id.MarshalJSON, id.MarshalText} {
			b, err := marshal()
			if (err == nil) != (v >= 0) {
				t.Fatalf("marshal %d: %s, %v", v, b, err)
			}
		}
		if v >= 0 {
			var fromJSON, fromText ID
			if err := fromJSON.UnmarshalJSON(must(id.MarshalJSON())); err != nil || fromJSON != id {
				t.Fatalf("JSON round trip of %d: %d, %v", v, fromJSON, err)
			}
			if err := fromText.UnmarshalText(must(id.MarshalText())); err != nil || fromText != id {
				t.Fatalf("text round trip of %d: %d, %v", v, fromText, err)
			}
		}
	})
}

// FuzzParseFingerprint: what parses is a valid layout whose fingerprint is
// the input; anything else is an error wrapping ErrFingerprint.
func FuzzParseFingerprint(f *testing.F) {
	for _, l := range []Layout{Twitter(), Sonyflake()} {
		f.Add(l.Fingerprint())
	}
	for _, s := range []string{"", "v1", "v1 epoch=0ms unit=1ms bits=41/10/12", "v1 epoch=1ms unit=0ms bits=41/10/12",
		"v1 epoch=-5ms unit=1ms bits=41/10/12", "v1 epoch=1288834974657ms unit=1ms bits=41/10/12 ", "v2 epoch=1ms unit=1ms bits=1/1/61"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseFingerprint(s)
		if err != nil {
			if !errors.Is(err, ErrFingerprint) || l != (Layout{}) {
				t.Fatalf("ParseFingerprint(%q) = %+v, %v: want the zero Layout and ErrFingerprint", s, l, err)
			}
			return
		}
		if verr := l.Validate(); verr != nil {
			t.Fatalf("ParseFingerprint(%q) = an invalid layout: %v", s, verr)
		}
		if l.Fingerprint() != s {
			t.Fatalf("ParseFingerprint(%q).Fingerprint() = %q", s, l.Fingerprint())
		}
	})
}
