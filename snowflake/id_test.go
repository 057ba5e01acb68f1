package snowflake

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"encoding"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	bw "github.com/bwmarrin/snowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
				require.Equal(t, e.theirs(bw.ID(id)), s, "%s(%d) against bwmarrin's", e.name, id)
				back, err := e.parse(s)
				require.NoError(t, err, "parse(%s(%d) = %q)", e.name, id, s)
				require.Equal(t, id, back, "parse(%s(%d) = %q)", e.name, id, s)
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
			_, err := e.parse(s)
			assert.ErrorIs(t, err, ErrInvalidID, "%s(%d) = %q parses", e.name, id, s)
		}
		_, err := id.MarshalJSON()
		assert.ErrorIs(t, err, ErrInvalidID, "MarshalJSON(%d)", id)
		_, err = id.MarshalText()
		assert.ErrorIs(t, err, ErrInvalidID, "MarshalText(%d)", id)
		_, err = id.Value()
		assert.ErrorIs(t, err, ErrInvalidID, "Value(%d)", id)
		_, err = ParseInt64(int64(id))
		assert.ErrorIs(t, err, ErrInvalidID, "ParseInt64(%d)", id)
	}
	assert.Equal(t, "-21", ID(-58).Base58())
	got := ID(math.MinInt64).Base32()
	assert.True(t, strings.HasPrefix(got, "-") && len(got) == 14, "Base32(MinInt64) = %q", got)
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
			assert.ErrorIs(t, err, ErrInvalidID, "%s(%q)", tc.parser, in)
			assert.Zero(t, id, "%s(%q)", tc.parser, in)
		}
	}
	// The wrap-arounds the guards exist for.
	v, err := bw.ParseBase58([]byte("JPwcyDCgEuv"))
	require.NoError(t, err)
	assert.Equal(t, bw.ID(5), v, "bwmarrin ParseBase58(2^64+5): the test expected it to wrap to 5")
	v, err = bw.ParseBase32([]byte("eyyyyyyyyyyyy"))
	require.NoError(t, err)
	assert.Equal(t, bw.ID(math.MinInt64), v, "bwmarrin ParseBase32(2^63): the test expected it to wrap")
	if v, err := bw.ParseBase58([]byte("2O")); err != nil {
		t.Logf("bwmarrin ParseBase58(\"2O\") = %d, %v (now refuses bytes outside the alphabet?)", v, err)
	} else {
		_, ours := ParseBase58("2O")
		assert.Error(t, ours, "ParseBase58 accepts a character outside the alphabet")
	}
	// Leading zero digits are the same number.
	for _, tc := range []struct {
		parse func(string) (ID, error)
		in    string
		want  ID
	}{{ParseBase32, "yyb", 1}, {ParseBase32, "y", 0}, {ParseBase58, "11112", 1}, {ParseBase58, "1", 0},
		{ParseString, "0001", 1}, {ParseBase36, "0Z", 35}, {ParseBase2, "0011", 3}} {
		got, err := tc.parse(tc.in)
		assert.NoError(t, err, "parse %q", tc.in)
		assert.Equal(t, tc.want, got, "parse %q", tc.in)
	}
	// Long bad input is cut short in the message.
	_, err = ParseString(strings.Repeat("x", 10_000))
	require.Error(t, err)
	assert.LessOrEqual(t, len(err.Error()), 200, "error message length")
}

func TestJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(struct{ ID ID }{ID: 1 << 60})
	require.NoError(t, err)
	require.Equal(t, `{"ID":"1152921504606846976"}`, string(b))
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
		assert.NoError(t, id.UnmarshalJSON([]byte(in)), "UnmarshalJSON(%s)", in)
		assert.Equal(t, want, id, "UnmarshalJSON(%s)", in)
		var v struct{ ID ID }
		assert.NoError(t, json.Unmarshal([]byte(`{"ID":`+in+`}`), &v), "json.Unmarshal of %s", in)
		assert.Equal(t, want, v.ID, "json.Unmarshal of %s", in)
	}
	bad := []string{``, `"`, `""`, `"-1"`, `-1`, `1.5`, `1e3`, `"1e3"`, `true`, `{}`, `[]`, ` 123`, `"123`, `123"`,
		`"9223372036854775808"`, `9223372036854775808`, `" 1"`, `"\u00311\"`, "\"1\n\""}
	for _, in := range bad {
		var id ID = 42
		assert.ErrorIs(t, id.UnmarshalJSON([]byte(in)), ErrInvalidID, "UnmarshalJSON(%s)", in)
		assert.Equal(t, ID(42), id, "UnmarshalJSON(%s) changed the ID", in)
	}
	var id ID = 42
	assert.NoError(t, id.UnmarshalJSON([]byte("null")))
	assert.Equal(t, ID(42), id, "UnmarshalJSON(null) changed the ID")
}

func TestText(t *testing.T) {
	t.Parallel()
	b, err := ID(1234).MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "1234", string(b))
	b, err = ID(5).AppendText([]byte("id="))
	require.NoError(t, err)
	assert.Equal(t, "id=5", string(b))
	var id ID
	assert.NoError(t, id.UnmarshalText([]byte("1234")))
	assert.Equal(t, ID(1234), id)
	for _, in := range []string{"", "-1", "+1", "a", "1 "} {
		assert.ErrorIs(t, id.UnmarshalText([]byte(in)), ErrInvalidID, "UnmarshalText(%q)", in)
	}
	// As a map key, through encoding/json's TextMarshaler support.
	m := map[ID]bool{7: true}
	b, err = json.Marshal(m)
	require.NoError(t, err)
	assert.Equal(t, `{"7":true}`, string(b))
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
		assert.NoError(t, id.Scan(tc.src), "Scan(%#v)", tc.src)
		assert.Equal(t, tc.want, id, "Scan(%#v)", tc.src)
	}
	bad := []any{nil, int64(-1), uint64(math.MaxInt64 + 1), "-1", "x", []byte(""), float64(1), 1, true, struct{}{}}
	for _, src := range bad {
		var id ID = 42
		assert.ErrorIs(t, id.Scan(src), ErrInvalidID, "Scan(%#v)", src)
		assert.Equal(t, ID(42), id, "Scan(%#v) changed the ID", src)
	}
	v, err := ID(81).Value()
	require.NoError(t, err)
	assert.Equal(t, int64(81), v)
	// database/sql accepts what Value gives.
	_, err = driver.DefaultParameterConverter.ConvertValue(v)
	assert.NoError(t, err, "driver rejects Value's %T", v)
	assert.True(t, bytes.Equal(ID(81).Bytes(), []byte("81")), "Bytes = %q", ID(81).Bytes())
}
