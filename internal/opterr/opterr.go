// Package opterr is the one error type of the module for an option or an
// argument out of range. Each package exposes it under its own name with a
// type alias (snowflake.OptionError, lease.OptionError,
// clockguard.OptionError, idgen.OptionError), so errors.As with any of them
// finds the error whichever package returned it.
package opterr

import (
	"fmt"
	"strings"
)

// Error reports an option or argument out of range: the field, the value
// given and what is allowed. It unwraps to the package's ErrInvalidOptions
// (when the value is an option) and to Err (when set), so errors.Is matches
// both. An *Error is not changed after it is returned, so it is safe for
// concurrent use.
type Error struct {
	// Field names the option or argument, such as "TTL" or "Parts.Worker".
	Field string
	// Value is the value given.
	Value any
	// Allowed says what is allowed: a range such as "100ms to 24h", or what
	// the value must be.
	Allowed string
	// Err is the specific error behind it, or nil: a sentinel such as
	// snowflake.ErrWorkerRange, or the error of a nested check (such as
	// Layout.Validate's).
	Err error

	// invalid is the returning package's ErrInvalidOptions, or nil for a
	// value that is not an option (then Err is set).
	invalid error
}

// New returns an Error. invalid is the package's ErrInvalidOptions, or nil
// for a value that is not an option (such as a part of an ID: then err must
// be set); err, which may be nil, is the specific error behind it.
func New(invalid error, field string, value any, allowed string, err error) *Error {
	return &Error{Field: field, Value: value, Allowed: allowed, Err: err, invalid: invalid}
}

// Error names the package (through its sentinel), the field, the value and
// what is allowed, and then the specific error if there is one, such as
//
//	lease: invalid options: TTL is 5ms, allowed 100ms to 24h
//	snowflake: worker ID out of range: Parts.Worker is 5000, allowed 0 to 1023
func (e *Error) Error() string {
	var b strings.Builder
	head, tail := e.invalid, e.Err
	if head == nil {
		head, tail = e.Err, nil
	}
	if head != nil {
		b.WriteString(head.Error())
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	b.WriteString(" is ")
	b.WriteString(formatValue(e.Value))
	if e.Allowed != "" {
		b.WriteString(", allowed ")
		b.WriteString(e.Allowed)
	}
	if tail != nil {
		b.WriteString(": ")
		b.WriteString(tail.Error())
	}
	return b.String()
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

// Unwrap returns the package's ErrInvalidOptions and Err, those of them
// that are set.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	for _, err := range []error{e.invalid, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
