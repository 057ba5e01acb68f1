package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// leaseJSON is one lease in `idgen leases --json` output.
type leaseJSON struct {
	Worker     int64    `json:"worker"`
	Host       string   `json:"host"`
	PID        int      `json:"pid"`
	Started    string   `json:"started,omitempty"` // RFC 3339 with ms, UTC
	AgeSeconds float64  `json:"age_seconds"`
	TTLSeconds float64  `json:"ttl_seconds"` // left before expiry without renewal; -1: no TTL
	HWM        int64    `json:"hwm"`         // tick; -1: none recorded
	HWMTime    string   `json:"hwm_time,omitempty"`
	HWMAhead   *float64 `json:"hwm_ahead_seconds,omitempty"` // HWM time minus now
}

func runLeases(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("leases", "[--namespace NS] [--json]", `
List every worker ID held in the namespace: the holder's host and pid, the
lease's age and the TTL left before it expires without renewal, and the
worker's high-water mark (the highest tick its holders may have issued) as a
time. A table for people; --json prints a JSON array for scripts.`)
	var conn connFlags
	conn.register(fs, e.getenv)
	ns := fs.String("namespace", "idgen", "lease `namespace`")
	layout := newLayoutFlag()
	fs.Var(layout, "layout", layoutUsage+" (to show HWMs as times when the namespace has not recorded one)")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	if code, done := parseFlags(fs, e, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "leases", "unexpected argument %q", fs.Arg(0))
	}
	client, code := conn.open(ctx, e, "leases")
	if client == nil {
		return code
	}
	defer client.Close()
	lctx, cancel := context.WithTimeout(ctx, 4*conn.timeout)
	defer cancel()
	// Show HWMs in the layout the namespace recorded, whatever --layout
	// says: another layout would print wrong times.
	fp, _ := client.HGet(lctx, lease.KeysOf(*ns).Meta(), "layout").Result()
	if recorded, err := snowflake.ParseFingerprint(fp); err == nil {
		if explicit(fs, "layout") && recorded.Fingerprint() != layout.layout.Fingerprint() {
			fmt.Fprintf(e.stderr, "idgen leases: namespace %q records layout %q, not --layout %s: showing times in its own\n",
				*ns, fp, layout.name)
		}
		layout.layout = recorded
	}
	infos, err := lease.List(lctx, client, *ns)
	if err != nil {
		return fail(e, "leases", fmt.Errorf("list the leases of namespace %q: %w", *ns, err))
	}
	now := time.Now()
	rows := make([]leaseJSON, len(infos))
	for i, in := range infos {
		r := leaseJSON{Worker: in.WorkerID, Host: in.Host, PID: in.PID, HWM: in.HWM, TTLSeconds: in.TTL.Seconds()}
		if in.TTL < 0 {
			r.TTLSeconds = -1
		}
		if !in.Started.IsZero() {
			r.Started = in.Started.UTC().Format(timeFormat)
			r.AgeSeconds = now.Sub(in.Started).Seconds()
		}
		if in.HWM >= 0 {
			t := layout.layout.Time(in.HWM)
			r.HWMTime = t.UTC().Format(timeFormat)
			ahead := t.Sub(now).Seconds()
			r.HWMAhead = &ahead
		}
		rows[i] = r
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return fail(e, "leases", err)
		}
		return exitOK
	}
	if len(rows) == 0 {
		fmt.Fprintf(e.stdout, "No leases held in namespace %q.\n", *ns)
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tHOST\tPID\tAGE\tTTL LEFT\tHIGH-WATER MARK (UTC)\tHWM - NOW")
	for _, r := range rows {
		ttl := "no TTL!"
		if r.TTLSeconds >= 0 {
			ttl = seconds(r.TTLSeconds)
		}
		age, hwm, ahead := "-", "-", "-"
		if r.Started != "" {
			age = seconds(r.AgeSeconds)
		}
		if r.HWMTime != "" {
			hwm = r.HWMTime
			ahead = seconds(*r.HWMAhead)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Worker, r.Host, r.PID, age, ttl, hwm, ahead)
	}
	if err := tw.Flush(); err != nil {
		return fail(e, "leases", err)
	}
	fmt.Fprintf(e.stdout, "%d worker IDs in use of %d.\n", len(rows), layout.layout.MaxWorker()+1)
	return exitOK
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

// explicit reports whether the flag was given on the command line.
func explicit(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}
