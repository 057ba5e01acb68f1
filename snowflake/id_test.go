package snowflake

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"encoding"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	bw "github.com/bwmarrin/snowflake"
)

// Compile-time checks of the interfaces ID promises.
var (
	_ json.Marshaler           = ID(0)
	_ json.Unmarshaler         = (*ID)(nil)
	_ encoding.TextMarshaler   = ID(0)
	_ encoding.TextUnmarshaler = (*ID)(nil)
	_ encoding.TextAppender    = ID(0)
	_ sql.Scanner              = (*ID)(nil)
	_ driver.Valuer            = ID(0)
)

func sampleIDs() []ID {
	ids := []ID{0, 1, 31, 32, 57, 58, 1023, 1024, 1 << 22, 1 << 41, 1<<62 - 1, 1 << 62, math.MaxInt64 - 1, math.MaxInt64}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		ids = append(ids, ID(rng.Int64()))
	}
	return ids
}

// encodings pairs each of our encoders and parsers with bwmarrin's.
var encodings = []struct {
	name   string
	ours   func(ID) string
	theirs func(bw.ID) string
	parse  func(string) (ID, error)
}{
	{"String", ID.String, bw.ID.String, ParseString},
	{"Base2", ID.Base2, bw.ID.Base2, ParseBase2},
	{"Base32", ID.Base32, bw.ID.Base32, ParseBase32},
	{"Base36", ID.Base36, bw.ID.Base36, ParseBase36},
	{"Base58", ID.Base58, bw.ID.Base58, ParseBase58},
	{"Base64", ID.Base64, bw.ID.Base64, ParseBase64},
	{"Bytes", func(id ID) string { return string(id.Bytes()) }, func(id bw.ID) string { return string(id.Bytes()) },
		func(s string) (ID, error) { return ParseBytes([]byte(s)) }},
	{"IntBytes", func(id ID) string { b := id.IntBytes(); return string(b[:]) }, func(id bw.ID) string { b := id.IntBytes(); return string(b[:]) },
		func(s string) (ID, error) { return ParseIntBytes([8]byte([]byte(s))) }},
}

// TestEncodingsMatchBwmarrin: the same ID gives the same string as
// bwmarrin/snowflake, and parses back to itself.
func TestEncodingsMatchBwmarrin(t *testing.T) {
	t.Parallel()
	for _, e := range encodings {
		t.Run(e.name, func(t *testing.T) {
			for _, id := range sampleIDs() {
				s := e.ours(id)
				if want := e.theirs(bw.ID(id)); s != want {
					t.Fatalf("%s(%d) = %q, bwmarrin gives %q", e.name, id, s, want)
				}
				back, err := e.parse(s)
				if err != nil || back != id {
					t.Fatalf("parse(%s(%d) = %q) = %d, %v", e.name, id, s, back, err)
				}
			}
		})
	}
}

// TestNegativeIDs: encoders do not panic on a negative ID (bwmarrin's base32
// and base58 do), parsers reject what they write, marshalers refuse.
func TestNegativeIDs(t *testing.T) {
	t.Parallel()
	for _, id := range []ID{-1, -32, -58, math.MinInt64} {
		for _, e := range encodings {
			s := e.ours(id)
			if _, err := e.parse(s); !errors.Is(err, ErrInvalidID) {
				t.Errorf("%s(%d) = %q parses with %v, want ErrInvalidID", e.name, id, s, err)
			}
		}
		if _, err := id.MarshalJSON(); !errors.Is(err, ErrInvalidID) {
			t.Errorf("MarshalJSON(%d): %v", id, err)
		}
		if _, err := id.MarshalText(); !errors.Is(err, ErrInvalidID) {
			t.Errorf("MarshalText(%d): %v", id, err)
		}
		if _, err := id.Value(); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Value(%d): %v", id, err)
		}
		if _, err := ParseInt64(int64(id)); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseInt64(%d): %v", id, err)
		}
	}
	if got := ID(-58).Base58(); got != "-21" {
		t.Errorf("Base58(-58) = %q, want -21", got)
	}
	if got := ID(math.MinInt64).Base32(); !strings.HasPrefix(got, "-") || len(got) != 14 {
		t.Errorf("Base32(MinInt64) = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		parser string
		parse  func(string) (ID, error)
		inputs []string
	}{
		{"ParseString", ParseString, []string{"", "-1", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "9223372036854775808", "١٢"}},
		{"ParseBase2", ParseBase2, []string{"", "2", "-1", strings.Repeat("1", 64)}},
		// 2^63 in z-base-32 and base58, which bwmarrin wraps to a negative
		// value, and 2^64+5 in base58 ("JPwcyDCgEuv"), which it wraps to 5.
		{"ParseBase32", ParseBase32, []string{"", "0", "l", "v", "2", "-b", "eyyyyyyyyyyyy", "zzzzzzzzzzzzz", "bbbbbbbbbbbbbbbbbbbbbbb"}},
		{"ParseBase36", ParseBase36, []string{"", "-1", "1z!", "1y2p0ij32e8e8"}},
		{"ParseBase58", ParseBase58, []string{"", "0", "O", "I", "l", "-2", "npL6MjP8Qfd", "JPwcyDCgEuv", "22222222222222222222"}},
		{"ParseBase64", ParseBase64, []string{"", "!!!!", "LTE=", "MS4w", "OTIyMzM3MjAzNjg1NDc3NTgwOA=="}},
	}
	for _, tc := range cases {
		for _, in := range tc.inputs {
			id, err := tc.parse(in)
			if !errors.Is(err, ErrInvalidID) || id != 0 {
				t.Errorf("%s(%q) = %d, %v; want 0 and ErrInvalidID", tc.parser, in, id, err)
			}
		}
	}
	// The wrap-arounds the guards exist for.
	if v, err := bw.ParseBase58([]byte("JPwcyDCgEuv")); err != nil || v != 5 {
		t.Errorf("bwmarrin ParseBase58(2^64+5) = %d, %v; the test expected it to wrap to 5", v, err)
	}
	if v, err := bw.ParseBase32([]byte("eyyyyyyyyyyyy")); err != nil || v != math.MinInt64 {
		t.Errorf("bwmarrin ParseBase32(2^63) = %d, %v; the test expected it to wrap", v, err)
	}
	if v, err := bw.ParseBase58([]byte("2O")); err != nil {
		t.Logf("bwmarrin ParseBase58(\"2O\") = %d, %v (now refuses bytes outside the alphabet?)", v, err)
	} else if _, ours := ParseBase58("2O"); ours == nil {
		t.Errorf("ParseBase58 accepts a character outside the alphabet")
	}
	// Leading zero digits are the same number.
	for _, tc := range []struct {
		parse func(string) (ID, error)
		in    string
		want  ID
	}{{ParseBase32, "yyb", 1}, {ParseBase32, "y", 0}, {ParseBase58, "11112", 1}, {ParseBase58, "1", 0},
		{ParseString, "0001", 1}, {ParseBase36, "0Z", 35}, {ParseBase2, "0011", 3}} {
		if got, err := tc.parse(tc.in); got != tc.want || err != nil {
			t.Errorf("parse %q = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	// Long bad input is cut short in the message.
	_, err := ParseString(strings.Repeat("x", 10_000))
	if len(err.Error()) > 200 {
		t.Errorf("error message is %d bytes", len(err.Error()))
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(struct{ ID ID }{ID: 1 << 60})
	if err != nil || string(b) != `{"ID":"1152921504606846976"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	good := map[string]ID{
		`"123"`:                 123,
		`123`:                   123,
		`"9223372036854775807"`: math.MaxInt64,
		`9223372036854775807`:   math.MaxInt64,
		`"12\u0033"`:            123,
		`"0"`:                   0,
	}
	for in, want := range good {
		var id ID = 42
		if err := id.UnmarshalJSON([]byte(in)); err != nil || id != want {
			t.Errorf("UnmarshalJSON(%s) = %d, %v; want %d", in, id, err, want)
		}
		var v struct{ ID ID }
		if err := json.Unmarshal([]byte(`{"ID":`+in+`}`), &v); err != nil || v.ID != want {
			t.Errorf("json.Unmarshal of %s = %d, %v", in, v.ID, err)
		}
	}
	bad := []string{``, `"`, `""`, `"-1"`, `-1`, `1.5`, `1e3`, `"1e3"`, `true`, `{}`, `[]`, ` 123`, `"123`, `123"`,
		`"9223372036854775808"`, `9223372036854775808`, `" 1"`, `"\u00311\"`, "\"1\n\""}
	for _, in := range bad {
		var id ID = 42
		if err := id.UnmarshalJSON([]byte(in)); !errors.Is(err, ErrInvalidID) || id != 42 {
			t.Errorf("UnmarshalJSON(%s) = %d, %v; want ErrInvalidID and no change", in, id, err)
		}
	}
	var id ID = 42
	if err := id.UnmarshalJSON([]byte("null")); err != nil || id != 42 {
		t.Errorf("UnmarshalJSON(null) = %d, %v; want no change", id, err)
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	b, err := ID(1234).MarshalText()
	if err != nil || string(b) != "1234" {
		t.Fatalf("MarshalText = %s, %v", b, err)
	}
	if b, _ := ID(5).AppendText([]byte("id=")); string(b) != "id=5" {
		t.Errorf("AppendText = %s", b)
	}
	var id ID
	if err := id.UnmarshalText([]byte("1234")); err != nil || id != 1234 {
		t.Errorf("UnmarshalText = %d, %v", id, err)
	}
	for _, in := range []string{"", "-1", "+1", "a", "1 "} {
		if err := id.UnmarshalText([]byte(in)); !errors.Is(err, ErrInvalidID) {
			t.Errorf("UnmarshalText(%q): %v", in, err)
		}
	}
	// As a map key, through encoding/json's TextMarshaler support.
	m := map[ID]bool{7: true}
	b, err = json.Marshal(m)
	if err != nil || string(b) != `{"7":true}` {
		t.Errorf("map key: %s, %v", b, err)
	}
}

func TestSQL(t *testing.T) {
	t.Parallel()
	good := []struct {
		src  any
		want ID
	}{
		{int64(77), 77}, {uint64(78), 78}, {"79", 79}, {[]byte("80"), 80}, {int64(math.MaxInt64), math.MaxInt64},
	}
	for _, tc := range good {
		var id ID = 42
		if err := id.Scan(tc.src); err != nil || id != tc.want {
			t.Errorf("Scan(%#v) = %d, %v; want %d", tc.src, id, err, tc.want)
		}
	}
	bad := []any{nil, int64(-1), uint64(math.MaxInt64 + 1), "-1", "x", []byte(""), float64(1), 1, true, struct{}{}}
	for _, src := range bad {
		var id ID = 42
		if err := id.Scan(src); !errors.Is(err, ErrInvalidID) || id != 42 {
			t.Errorf("Scan(%#v) = %d, %v; want ErrInvalidID and no change", src, id, err)
		}
	}
	v, err := ID(81).Value()
	if err != nil || v != int64(81) {
		t.Errorf("Value = %#v, %v", v, err)
	}
	// database/sql accepts what Value gives.
	if _, err := driver.DefaultParameterConverter.ConvertValue(v); err != nil {
		t.Errorf("driver rejects Value's %T: %v", v, err)
	}
	if !bytes.Equal(ID(81).Bytes(), []byte("81")) {
		t.Errorf("Bytes = %q", ID(81).Bytes())
	}
}
