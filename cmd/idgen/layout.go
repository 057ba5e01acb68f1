package main

import (
	"fmt"
	"strings"

	"github.com/snowlease/idgen/snowflake"
)

// layoutFlag is a --layout value: one of the presets by name.
type layoutFlag struct {
	name   string
	layout snowflake.Layout
}

func newLayoutFlag() *layoutFlag { return &layoutFlag{name: "twitter", layout: snowflake.Twitter()} }

func (f *layoutFlag) String() string {
	if f == nil {
		return ""
	}
	return f.name
}

func (f *layoutFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "twitter":
		f.name, f.layout = "twitter", snowflake.Twitter()
	case "sonyflake":
		f.name, f.layout = "sonyflake", snowflake.Sonyflake()
	default:
		return fmt.Errorf("unknown layout %q: use twitter (41/10/12, 1ms) or sonyflake (39/16/8, 10ms)", s)
	}
	return nil
}

const layoutUsage = "ID `layout`: twitter (41 time/10 worker/12 sequence bits, 1ms) or sonyflake (39/16/8, 10ms)"
