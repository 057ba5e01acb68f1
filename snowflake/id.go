package snowflake

import (
	"database/sql/driver"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	bw "github.com/bwmarrin/snowflake"
)

// ID is a Snowflake ID. Valid IDs are non-negative; every parser here rejects
// a negative value, and the marshalers refuse to write one, so what is written
// can always be read back.
//
// The string encodings are github.com/bwmarrin/snowflake's: the same ID gives
// the same string there and here, and each parser reads what the other
// writes. Unlike bwmarrin's (v0.3.0), the parsers never wrap around above
// 2^63-1, never read a character outside the alphabet as a zero digit, and
// never accept an empty string: bad input gives an error wrapping
// ErrInvalidID, never a panic.
//
// An ID is a plain value, safe for concurrent use.
type ID int64

// ErrInvalidID is wrapped by every error about a malformed or negative ID.
var ErrInvalidID = errors.New("snowflake: invalid ID")

// maxQuoted is how much of a bad input an error message repeats.
const maxQuoted = 40

func invalid(kind string, input []byte, why error) error {
	if len(input) > maxQuoted {
		input = append(input[:maxQuoted:maxQuoted], "..."...)
	}
	if why != nil {
		return fmt.Errorf("%w: %q is not a %s ID: %w", ErrInvalidID, input, kind, unwrapNum(why))
	}
	return fmt.Errorf("%w: %q is not a %s ID", ErrInvalidID, input, kind)
}

// unwrapNum drops strconv's repetition of the input, which invalid already
// quotes (and bounds in length).
func unwrapNum(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

var errNegative = errors.New("negative")

// checked rejects the negative results that wrapped-around or signed input
// gives.
func checked(kind string, input []byte, id bw.ID, err error) (ID, error) {
	if err != nil {
		return 0, invalid(kind, input, err)
	}
	if id < 0 {
		return 0, invalid(kind, input, errNegative)
	}
	return ID(id), nil
}

// Int64 is the ID as an int64.
func (id ID) Int64() int64 { return int64(id) }

// ParseInt64 checks that v is a valid ID (not negative).
func ParseInt64(v int64) (ID, error) {
	if v < 0 {
		return 0, fmt.Errorf("%w: %d is negative", ErrInvalidID, v)
	}
	return ID(v), nil
}

// String is the ID in decimal.
func (id ID) String() string { return bw.ID(id).String() }

// ParseString reads a decimal ID, as String writes it: digits only, no sign
// or spaces (leading zeros are allowed).
func ParseString(s string) (ID, error) { return parseDecimal("decimal", []byte(s)) }

// Base2 is the ID in binary.
func (id ID) Base2() string { return bw.ID(id).Base2() }

// ParseBase2 reads a binary ID, as Base2 writes it.
func ParseBase2(s string) (ID, error) {
	v, err := bw.ParseBase2(s)
	return checked("base2", []byte(s), v, err)
}

// Base36 is the ID in base 36 (0-9, a-z).
func (id ID) Base36() string { return bw.ID(id).Base36() }

// ParseBase36 reads a base-36 ID, as Base36 writes it; upper case is accepted.
func ParseBase36(s string) (ID, error) {
	v, err := bw.ParseBase36(s)
	return checked("base36", []byte(s), v, err)
}

// Base32 is the ID in bwmarrin/snowflake's base 32: the z-base-32 alphabet,
// most significant digit first, no padding. It is not RFC 4648 base32. A
// negative (invalid) ID is written as '-' and the digits of its magnitude,
// which no parser accepts.
func (id ID) Base32() string {
	if id < 0 {
		return negative(id, base32Alphabet.digits)
	}
	return bw.ID(id).Base32()
}

// ParseBase32 reads an ID written by Base32 (leading zero digits, 'y', are
// allowed).
func ParseBase32(s string) (ID, error) {
	return parsePositional("base32", s, &base32Alphabet, bw.ParseBase32, bw.ID.Base32)
}

// Base58 is the ID in bwmarrin/snowflake's base 58 (the Bitcoin alphabet,
// most significant digit first). A negative (invalid) ID is written as '-'
// and the digits of its magnitude, which no parser accepts.
func (id ID) Base58() string {
	if id < 0 {
		return negative(id, base58Alphabet.digits)
	}
	return bw.ID(id).Base58()
}

// ParseBase58 reads an ID written by Base58 (leading zero digits, '1', are
// allowed).
func ParseBase58(s string) (ID, error) {
	return parsePositional("base58", s, &base58Alphabet, bw.ParseBase58, bw.ID.Base58)
}

// parsePositional guards bwmarrin's base-32 and base-58 parsers (v0.3.0),
// which accept an empty string, read most bytes outside their alphabet as a
// zero digit (their decode tables mark only the first 32 or 58 byte values
// invalid), and silently wrap around on values above 2^63-1. The alphabet is
// checked here; then, with leading zero digits dropped, a value that did not
// wrap encodes back to exactly the digits that were read.
func parsePositional(kind, s string, a *alphabet, parse func([]byte) (bw.ID, error), format func(bw.ID) string) (ID, error) {
	if s == "" {
		return 0, invalid(kind, nil, errors.New("empty"))
	}
	for i := 0; i < len(s); i++ {
		if !a.valid[s[i]] {
			return 0, invalid(kind, []byte(s), fmt.Errorf("invalid character %q", s[i]))
		}
	}
	digits := s
	for len(digits) > 1 && digits[0] == a.digits[0] {
		digits = digits[1:]
	}
	v, err := parse([]byte(digits))
	if err != nil {
		return 0, invalid(kind, []byte(s), err)
	}
	if v < 0 || format(v) != digits {
		return 0, invalid(kind, []byte(s), strconv.ErrRange)
	}
	return ID(v), nil
}

type alphabet struct {
	digits []byte // digit value -> character
	valid  [256]bool
}

// The alphabets are read from bwmarrin's encoders, so there is one source of
// truth for them.
var base32Alphabet, base58Alphabet = newAlphabet(32, bw.ID.Base32), newAlphabet(58, bw.ID.Base58)

func newAlphabet(base int, format func(bw.ID) string) alphabet {
	a := alphabet{digits: make([]byte, base)}
	for i := range base {
		c := format(bw.ID(i))[0]
		a.digits[i] = c
		a.valid[c] = true
	}
	return a
}

// negative writes '-' and the magnitude of id (a negative value) in the given
// base; bwmarrin's encoders would index out of range on it.
func negative(id ID, digits []byte) string {
	base := uint64(len(digits))
	u := uint64(-int64(id)) // two's complement: also right for math.MinInt64
	var buf [66]byte
	i := len(buf)
	for {
		i--
		buf[i] = digits[u%base]
		u /= base
		if u == 0 {
			break
		}
	}
	i--
	buf[i] = '-'
	return string(buf[i:])
}

// Base64 is bwmarrin/snowflake's base64: standard base64 of the decimal
// string.
func (id ID) Base64() string { return bw.ID(id).Base64() }

// ParseBase64 reads an ID written by Base64.
func ParseBase64(s string) (ID, error) {
	v, err := bw.ParseBase64(s)
	return checked("base64", []byte(s), v, err)
}

// Bytes is the decimal string as bytes (bwmarrin/snowflake's Bytes).
func (id ID) Bytes() []byte { return strconv.AppendInt(nil, int64(id), 10) }

// ParseBytes reads a decimal ID, as Bytes writes it: digits only.
func ParseBytes(b []byte) (ID, error) { return parseDecimal("decimal", b) }

// IntBytes is the ID as an 8-byte big-endian integer, which sorts bytewise
// like the ID.
func (id ID) IntBytes() [8]byte { return bw.ID(id).IntBytes() }

// ParseIntBytes reads an ID written by IntBytes.
func ParseIntBytes(b [8]byte) (ID, error) {
	v := int64(binary.BigEndian.Uint64(b[:]))
	if v < 0 {
		return 0, invalid("big-endian", b[:], errNegative)
	}
	return ID(v), nil
}

// MarshalJSON writes the ID as a JSON string ("123"): JavaScript numbers lose
// precision above 2^53. A negative ID gives an error wrapping ErrInvalidID.
func (id ID) MarshalJSON() ([]byte, error) {
	if id < 0 {
		return nil, fmt.Errorf("%w: %d is negative", ErrInvalidID, int64(id))
	}
	b := make([]byte, 0, 21)
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a JSON string holding a decimal ID ("123") or a JSON
// integer (123). JSON null leaves the ID unchanged, as encoding/json does for
// other types.
func (id *ID) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if len(b) >= 2 && b[len(b)-1] == '"' && !hasEscape(b) {
			s = string(b[1 : len(b)-1])
		} else if err := json.Unmarshal(b, &s); err != nil {
			return invalid("JSON", b, err)
		}
		return id.set(parseDecimal("JSON", []byte(s)))
	case len(b) > 1 && b[0] == '0':
		return invalid("JSON", b, errors.New("leading zero in a JSON number"))
	default:
		return id.set(parseDecimal("JSON", b))
	}
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c < 0x20 {
			return true
		}
	}
	return false
}

// parseDecimal reads digits only: no sign, no spaces, no exponent. It is
// stricter than bwmarrin's strconv-based parsers, which also take a sign, and
// reads everything they write.
func parseDecimal(kind string, b []byte) (ID, error) {
	if len(b) == 0 {
		return 0, invalid(kind, b, errors.New("empty"))
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, invalid(kind, b, strconv.ErrSyntax)
		}
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, invalid(kind, b, err)
	}
	return ID(v), nil
}

func (id *ID) set(v ID, err error) error {
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// MarshalText writes the ID in decimal. A negative ID gives an error wrapping
// ErrInvalidID.
func (id ID) MarshalText() ([]byte, error) { return id.AppendText(nil) }

// AppendText appends the ID in decimal to b (encoding.TextAppender).
func (id ID) AppendText(b []byte) ([]byte, error) {
	if id < 0 {
		return b, fmt.Errorf("%w: %d is negative", ErrInvalidID, int64(id))
	}
	return strconv.AppendInt(b, int64(id), 10), nil
}

// UnmarshalText reads a decimal ID of digits only (no sign or spaces).
func (id *ID) UnmarshalText(b []byte) error {
	return id.set(parseDecimal("text", b))
}

// Scan implements sql.Scanner. It accepts an int64 (or a uint64 up to
// 2^63-1), or a string or []byte holding a decimal ID. SQL NULL is an error
// wrapping ErrInvalidID, so that a NULL never passes for an ID: scan a
// nullable column into a *ID (database/sql sets it to nil) or a
// sql.Null[ID]. Negative values, floats (which cannot hold every ID
// exactly) and other types are errors wrapping ErrInvalidID too.
func (id *ID) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		return fmt.Errorf("%w: NULL: scan a nullable column into a *snowflake.ID or a sql.Null[snowflake.ID]", ErrInvalidID)
	case int64:
		return id.set(ParseInt64(v))
	case uint64: // some drivers' unsigned BIGINT
		if v > math.MaxInt64 {
			return fmt.Errorf("%w: %d is above the largest ID", ErrInvalidID, v)
		}
		*id = ID(v)
		return nil
	case string:
		return id.set(parseDecimal("SQL", []byte(v)))
	case []byte:
		return id.set(parseDecimal("SQL", v))
	default:
		return fmt.Errorf("%w: cannot scan %T into an ID (want int64, string, []byte or nil)", ErrInvalidID, src)
	}
}

// Value implements driver.Valuer: the ID is stored as an int64 (BIGINT). A
// negative ID gives an error wrapping ErrInvalidID.
func (id ID) Value() (driver.Value, error) {
	if id < 0 {
		return nil, fmt.Errorf("%w: %d is negative", ErrInvalidID, int64(id))
	}
	return int64(id), nil
}
