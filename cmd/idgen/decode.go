package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/snowlease/idgen/serve"
)

// timeFormat is RFC 3339 with exactly three fractional digits, in UTC: how
// every command writes times, as `idgen decode` and the service do.
const timeFormat = serve.TimeFormat

func runDecode(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("decode", "[--layout L] [--encoding E] [ID...]", `
Print one JSON object per ID: {"id","time","tick","worker","sequence"}, with
time in RFC 3339 with milliseconds (UTC). IDs come from the arguments, or from
standard input (separated by white space) when there are none. Decoding needs
no Redis. An ID that is not valid for the layout is reported on stderr by
name; the others are still printed, and the exit code is 1.`)
	layout := newLayoutFlag()
	fs.Var(layout, "layout", layoutUsage)
	encodingNames := strings.Join(serve.EncodingNames(), ", ")
	encoding := fs.String("encoding", "decimal", "how the IDs are written: "+encodingNames)
	if code, done := parseFlags(fs, e, args); done {
		return code
	}
	if *encoding == "" || !serve.KnownEncoding(*encoding) {
		return usageError(e, "decode", "unknown --encoding %q: use one of %s", *encoding, encodingNames)
	}

	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	bad := 0
	decodeOne := func(s string) {
		id, err := serve.ParseID(s, *encoding)
		var d serve.Decoded
		if err == nil {
			d, err = serve.Decode(layout.layout, id)
		}
		if err != nil {
			bad++
			_ = out.Flush() // keep stdout and stderr in input order
			fmt.Fprintf(e.stderr, "idgen decode: %q is not a valid %s ID for the %s layout: %v\n",
				s, *encoding, layout.name, err)
			return
		}
		_ = enc.Encode(d)
	}

	if fs.NArg() > 0 {
		for _, s := range fs.Args() {
			decodeOne(s)
		}
	} else {
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		sc.Split(bufio.ScanWords)
		n := 0
		for sc.Scan() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				break
			}
			decodeOne(sc.Text())
		}
		if err := sc.Err(); err != nil {
			_ = out.Flush()
			return fail(e, "decode", fmt.Errorf("reading standard input: %w", err))
		}
		if n == 0 {
			return usageError(e, "decode", "no IDs given: pass them as arguments or on standard input")
		}
	}
	if err := out.Flush(); err != nil {
		return fail(e, "decode", err)
	}
	if bad > 0 {
		return exitError
	}
	return exitOK
}
