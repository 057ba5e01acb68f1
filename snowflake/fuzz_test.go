package snowflake

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	bw "github.com/bwmarrin/snowflake"
	"github.com/stretchr/testify/require"
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
		require.ErrorIs(t, err, ErrInvalidID, "parse(%q)", in)
		require.Zero(t, id, "parse(%q) failed with an ID", in)
		return
	}
	require.GreaterOrEqual(t, id, ID(0), "parse(%q)", in)
	out := format(id)
	back, err := parse(out)
	require.NoError(t, err, "parse(%q) = %d, which encodes as %q", in, id, out)
	require.Equal(t, id, back, "parse(%q) = %d, which encodes as %q", in, id, out)
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
		require.Equal(t, id, id2, "%q: ParseBytes against ParseString", s)
		require.Equal(t, err == nil, err2 == nil, "%q: ParseString %v; ParseBytes %v", s, err, err2)
		require.Equal(t, err == nil, err3 == nil, "%q: ParseString %v; UnmarshalText %v", s, err, err3)
		if err == nil {
			require.Equal(t, id, id3, "%q: UnmarshalText against ParseString", s)
			theirs, bwErr := bw.ParseString(s)
			require.NoError(t, bwErr, "%q: bwmarrin", s)
			require.Equal(t, int64(id), int64(theirs), "%q: bwmarrin", s)
		}
	})
}

func FuzzParseBase2(f *testing.F) {
	seedStrings(f, ID.Base2, "102", "0b1")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseBase2(s)
		checkParsed(t, s, id, err, ID.Base2, ParseBase2)
		theirs, bwErr := bw.ParseBase2(s)
		require.Equal(t, err == nil, bwErr == nil && theirs >= 0, "%q: ours %d, %v; bwmarrin %d, %v", s, id, err, theirs, bwErr)
		if err == nil {
			require.Equal(t, int64(id), int64(theirs), "%q: bwmarrin", s)
		}
	})
}

func FuzzParseBase36(f *testing.F) {
	seedStrings(f, ID.Base36, "1Y2P0IJ32E8E7", "1y2p0ij32e8e8", "zz_z")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseBase36(s)
		checkParsed(t, s, id, err, ID.Base36, ParseBase36)
		theirs, bwErr := bw.ParseBase36(s)
		require.Equal(t, err == nil, bwErr == nil && theirs >= 0, "%q: ours %d, %v; bwmarrin %d, %v", s, id, err, theirs, bwErr)
		if err == nil {
			require.Equal(t, int64(id), int64(theirs), "%q: bwmarrin", s)
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
		if err == nil {
			require.NoError(t, bwErr, "%q: bwmarrin", s)
			require.Equal(t, int64(id), int64(v), "%q: bwmarrin", s)
		}
		inAlphabet := s != ""
		for i := 0; i < len(s); i++ {
			inAlphabet = inAlphabet && bytes.IndexByte(a.digits, s[i]) >= 0
		}
		// bwmarrin reads bytes outside the alphabet as zero digits; ours
		// must refuse them, and agree with it on the rest up to 2^63-1.
		if err == nil {
			require.True(t, inAlphabet, "%q has characters outside the alphabet, parsed as %d", s, id)
		}
		if inAlphabet && bwErr == nil && v >= 0 && len(s) < 10 {
			require.NoError(t, err, "%q: bwmarrin reads %d (short, so no wrap-around)", s, v)
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
			require.ErrorIs(t, err, ErrInvalidID, "UnmarshalJSON(%q)", b)
			require.Equal(t, before, id, "UnmarshalJSON(%q) failed and changed the ID", b)
			return
		}
		if string(b) == "null" {
			require.Equal(t, before, id, "null changed the ID")
			return
		}
		require.GreaterOrEqual(t, id, ID(0), "UnmarshalJSON(%q)", b)
		require.True(t, json.Valid(b), "UnmarshalJSON(%q) accepted invalid JSON as %d", b, id)
		out, err := id.MarshalJSON()
		require.NoError(t, err)
		var back ID
		require.NoError(t, json.Unmarshal(out, &back), "%q -> %d -> %s", b, id, out)
		require.Equal(t, id, back, "%q -> %d -> %s", b, id, out)
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
			require.ErrorIs(t, err, ErrInvalidID, "Scan(%#v)", src)
			require.Equal(t, before, id, "Scan(%#v) failed and changed the ID", src)
			return
		}
		v, err := id.Value()
		require.NoError(t, err, "Scan(%#v) = %d, whose Value fails", src, id)
		var back ID
		require.NoError(t, back.Scan(v), "Scan(%#v) = %d -> Value %v", src, id, v)
		require.Equal(t, id, back, "Scan(%#v) = %d -> Value %v", src, id, v)
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
			if v < 0 {
				require.ErrorIs(t, err, ErrInvalidID, "%s(%d) = %q parses as %d", e.name, v, s, back)
				continue
			}
			require.NoError(t, err, "%s(%d) = %q", e.name, v, s)
			require.Equal(t, id, back, "%s(%d) = %q", e.name, v, s)
			require.Equal(t, e.theirs(bw.ID(v)), s, "%s(%d) against bwmarrin's", e.name, v)
		}
		got, err := ParseInt64(v)
		if v < 0 {
			require.ErrorIs(t, err, ErrInvalidID, "ParseInt64(%d)", v)
		} else {
			require.NoError(t, err, "ParseInt64(%d)", v)
			require.Equal(t, id, got, "ParseInt64(%d)", v)
		}
		for _, marshal := range []func() ([]byte, error){id.MarshalJSON, id.MarshalText} {
			b, err := marshal()
			require.Equal(t, v >= 0, err == nil, "marshal %d: %s, %v", v, b, err)
		}
		if v >= 0 {
			j, err := id.MarshalJSON()
			require.NoError(t, err)
			var fromJSON, fromText ID
			require.NoError(t, fromJSON.UnmarshalJSON(j), "JSON round trip of %d", v)
			require.Equal(t, id, fromJSON, "JSON round trip of %d", v)
			txt, err := id.MarshalText()
			require.NoError(t, err)
			require.NoError(t, fromText.UnmarshalText(txt), "text round trip of %d", v)
			require.Equal(t, id, fromText, "text round trip of %d", v)
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
			require.ErrorIs(t, err, ErrFingerprint, "ParseFingerprint(%q)", s)
			require.Equal(t, Layout{}, l, "ParseFingerprint(%q) failed with a layout", s)
			return
		}
		require.NoError(t, l.Validate(), "ParseFingerprint(%q) gave an invalid layout", s)
		require.Equal(t, s, l.Fingerprint(), "ParseFingerprint(%q).Fingerprint()", s)
	})
}
