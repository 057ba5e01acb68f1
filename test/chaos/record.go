// Package chaos is idgen's multi-process chaos suite: a worker binary
// (./worker) that leases a worker ID with idgen.New and writes every ID it
// issues to its own file, the file format, and a checker that reads the
// files of a run and proves that no ID was issued twice, that no process
// went backwards, and that no ID lies above the fence its process had been
// granted. chaos_test.go starts the workers against real redis-server
// processes and injects the faults.
//
// # File format
//
// A file starts with a header (magic "IDGCHAOS", version, layout, process
// name and pid, clock offset, start time) followed by records, each a tag
// byte and varints:
//
//	'F' worker, fence, wall   the fence in force for worker, read after the
//	                          batch whose runs follow (fence -1: unknown)
//	'R' delta, count          a run of count consecutive IDs starting at
//	                          previous run's last ID + delta (zigzag)
//	'O' start, dur, kinds, n, an outage: n failed calls, error kinds as bits,
//	    first, last           and the first and last error's text
//	'L' wall, count           Stats().LeasesLost rose to count
//	'C' wall, kind, amount    a clock guard event
//	'A' wall, took, tries, w  the first worker ID was acquired
//	'S' n, (name, value)*     final counters
//	'E'                       clean end
//
// IDs are stored as runs because a generator issues the sequence numbers of
// a tick consecutively: a run is exactly the IDs it stands for, and the
// checker verifies uniqueness by merging the runs of all files, in memory
// proportional to the number of files, not of IDs.
package chaos

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/snowlease/idgen/snowflake"
)

const (
	magic   = "IDGCHAOS"
	version = 1
)

// Record tags.
const (
	tagFence    = 'F'
	tagRun      = 'R'
	tagOutage   = 'O'
	tagLost     = 'L'
	tagClock    = 'C'
	tagAcquired = 'A'
	tagStats    = 'S'
	tagEnd      = 'E'
)

// Error kinds of an outage, as bits.
const (
	KindFenced uint64 = 1 << iota // snowflake.ErrFenced: renewals failing past the Window
	KindPaused                    // snowflake.ErrPaused: the clock guard paused issuing
	KindLost                      // the lease was lost; a new worker ID is being acquired
	KindClosed                    // idgen.ErrClosed
	KindOther                     // anything else
	numKinds   = iota
)

var kindNames = [numKinds]string{"fenced", "paused", "lease-lost", "closed", "other"}

// KindString names the kinds set in mask, joined by "+".
func KindString(mask uint64) string {
	s := ""
	for i, n := range kindNames {
		if mask&(1<<i) != 0 {
			if s != "" {
				s += "+"
			}
			s += n
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Header describes the process that wrote a file.
type Header struct {
	Name        string
	PID         int
	Layout      snowflake.Layout
	ClockOffset time.Duration // injected into the process's clock
	Started     time.Time
}

// Writer appends records to a file. It is not safe for concurrent use.
type Writer struct {
	f      *os.File
	w      *bufio.Writer
	layout snowflake.Layout
	buf    []byte

	prevEnd   int64 // last ID of the previous run
	haveFence bool
	worker    int64
	fence     int64
	fenceAt   time.Time
}

// fenceRefresh is how often a fence record is repeated with a fresh wall
// time even when the fence did not change, so the checker can place runs in
// time.
const fenceRefresh = 20 * time.Millisecond

// Create creates path and writes the header.
func Create(path string, h Header) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, w: bufio.NewWriterSize(f, 64<<10), layout: h.Layout}
	w.buf = append(w.buf, magic...)
	w.buf = append(w.buf, version)
	w.str(h.Name)
	w.uvar(uint64(h.PID))
	w.svar(h.Layout.Epoch.UnixNano())
	w.uvar(uint64(h.Layout.TimeUnit))
	w.buf = append(w.buf, h.Layout.TimeBits, h.Layout.WorkerBits, h.Layout.SequenceBits)
	w.svar(int64(h.ClockOffset))
	w.svar(h.Started.UnixNano())
	if err := w.flushBuf(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func (w *Writer) uvar(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *Writer) svar(v int64)  { w.buf = binary.AppendVarint(w.buf, v) }
func (w *Writer) str(s string) {
	w.uvar(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

func (w *Writer) flushBuf() error {
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Batch records the IDs of one NextN call, and the fence read after it:
// fenceWorker and fence are Stats().WorkerID and Stats().Fence. When
// fenceWorker is not the batch's worker ID (the Generator moved to another
// worker ID in between) the fence is recorded as unknown.
func (w *Writer) Batch(ids []snowflake.ID, fenceWorker, fence int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	worker := w.layout.Decompose(ids[0]).Worker
	if worker != fenceWorker {
		fence = -1
	}
	if !w.haveFence || worker != w.worker || fence != w.fence || now.Sub(w.fenceAt) >= fenceRefresh {
		w.buf = append(w.buf, tagFence)
		w.uvar(uint64(worker))
		w.svar(fence)
		w.svar(now.UnixNano())
		w.haveFence, w.worker, w.fence, w.fenceAt = true, worker, fence, now
	}
	start := int64(ids[0])
	prev := start
	for _, id := range ids[1:] {
		if int64(id) == prev+1 {
			prev++
			continue
		}
		w.run(start, prev)
		start, prev = int64(id), int64(id)
	}
	w.run(start, prev)
	return w.flushBuf()
}

func (w *Writer) run(first, last int64) {
	w.buf = append(w.buf, tagRun)
	w.svar(first - w.prevEnd)
	w.uvar(uint64(last - first + 1))
	w.prevEnd = last
}

// Outage records a time without IDs: fails failed calls, with the error
// kinds in kinds, from start for dur; first and last are the first and last
// errors.
func (w *Writer) Outage(start time.Time, dur time.Duration, kinds, fails uint64, first, last string) error {
	w.buf = append(w.buf, tagOutage)
	w.svar(start.UnixNano())
	w.uvar(uint64(dur))
	w.uvar(kinds)
	w.uvar(fails)
	for _, m := range []string{first, last} {
		if len(m) > 500 {
			m = m[:500]
		}
		w.str(m)
	}
	return w.flushBuf()
}

// LeaseLost records that Stats().LeasesLost rose to count.
func (w *Writer) LeaseLost(at time.Time, count uint64) error {
	w.buf = append(w.buf, tagLost)
	w.svar(at.UnixNano())
	w.uvar(count)
	return w.flushBuf()
}

// ClockEvent records a clock guard event.
func (w *Writer) ClockEvent(at time.Time, kind int, amount time.Duration) error {
	w.buf = append(w.buf, tagClock)
	w.svar(at.UnixNano())
	w.uvar(uint64(kind))
	w.svar(int64(amount))
	return w.flushBuf()
}

// Acquired records that idgen.New succeeded after tries attempts taking took.
func (w *Writer) Acquired(at time.Time, took time.Duration, tries int, worker int64) error {
	w.buf = append(w.buf, tagAcquired)
	w.svar(at.UnixNano())
	w.uvar(uint64(took))
	w.uvar(uint64(tries))
	w.uvar(uint64(worker))
	return w.flushBuf()
}

// Counter is a named final counter.
type Counter struct {
	Name  string
	Value uint64
}

// Final records the process's final counters.
func (w *Writer) Final(cs []Counter) error {
	w.buf = append(w.buf, tagStats)
	w.uvar(uint64(len(cs)))
	for _, c := range cs {
		w.str(c.Name)
		w.uvar(c.Value)
	}
	return w.flushBuf()
}

// Flush writes buffered records to the file.
func (w *Writer) Flush() error { return w.w.Flush() }

// Close writes the end record, flushes and closes the file.
func (w *Writer) Close() error {
	w.buf = append(w.buf, tagEnd)
	err := w.flushBuf()
	if ferr := w.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// record is one decoded record. Only the fields of its tag are set.
type record struct {
	tag          byte
	worker       int64
	fence        int64
	wall         int64 // unix ns
	first, last  int64 // run, inclusive
	dur          int64
	kinds, count uint64
	kind         int
	msg, msg2    string
	counters     []Counter
}

// errTruncated marks a record cut short at the end of the file, as when a
// worker was killed mid-write.
var errTruncated = errors.New("truncated record")

// reader decodes a file.
type reader struct {
	r       *bufio.Reader
	header  Header
	prevEnd int64
}

func openReader(f io.Reader) (*reader, error) {
	r := &reader{r: bufio.NewReaderSize(f, 256<<10)}
	m := make([]byte, len(magic)+1)
	if _, err := io.ReadFull(r.r, m); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if string(m[:len(magic)]) != magic || m[len(magic)] != version {
		return nil, fmt.Errorf("not a chaos file (magic %q)", m)
	}
	h := &r.header
	var err error
	get := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	var pid, unit uint64
	var epoch, off, started int64
	var bitsb [3]byte
	get(func() (e error) { h.Name, e = r.str(); return })
	get(func() (e error) { pid, e = binary.ReadUvarint(r.r); return })
	get(func() (e error) { epoch, e = binary.ReadVarint(r.r); return })
	get(func() (e error) { unit, e = binary.ReadUvarint(r.r); return })
	get(func() (e error) { _, e = io.ReadFull(r.r, bitsb[:]); return })
	get(func() (e error) { off, e = binary.ReadVarint(r.r); return })
	get(func() (e error) { started, e = binary.ReadVarint(r.r); return })
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	h.PID = int(pid)
	h.Layout = snowflake.Layout{Epoch: time.Unix(0, epoch).UTC(), TimeUnit: time.Duration(unit),
		TimeBits: bitsb[0], WorkerBits: bitsb[1], SequenceBits: bitsb[2]}
	if err := h.Layout.Validate(); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	h.ClockOffset = time.Duration(off)
	h.Started = time.Unix(0, started)
	return r, nil
}

func (r *reader) str() (string, error) {
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return "", err
	}
	if n > 1<<16 {
		return "", fmt.Errorf("string of %d bytes", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r.r, b)
	return string(b), err
}

// next decodes the next record. It returns io.EOF at a clean end of data,
// errTruncated (wrapped) for a record cut short.
func (r *reader) next(rec *record) error {
	tag, err := r.r.ReadByte()
	if err != nil {
		return err // io.EOF: no more records
	}
	*rec = record{tag: tag}
	var e error
	uv := func() uint64 {
		if e != nil {
			return 0
		}
		var v uint64
		v, e = binary.ReadUvarint(r.r)
		return v
	}
	sv := func() int64 {
		if e != nil {
			return 0
		}
		var v int64
		v, e = binary.ReadVarint(r.r)
		return v
	}
	switch tag {
	case tagFence:
		rec.worker, rec.fence, rec.wall = int64(uv()), sv(), sv()
	case tagRun:
		d, n := sv(), uv()
		if e == nil && n == 0 {
			return fmt.Errorf("run of 0 IDs")
		}
		rec.first = r.prevEnd + d
		rec.last = rec.first + int64(n) - 1
		if e == nil {
			r.prevEnd = rec.last
		}
	case tagOutage:
		rec.wall, rec.dur, rec.kinds, rec.count = sv(), int64(uv()), uv(), uv()
		if e == nil {
			rec.msg, e = r.str()
		}
		if e == nil {
			rec.msg2, e = r.str()
		}
	case tagLost:
		rec.wall, rec.count = sv(), uv()
	case tagClock:
		rec.wall, rec.kind, rec.dur = sv(), int(uv()), sv()
	case tagAcquired:
		rec.wall, rec.dur, rec.count, rec.worker = sv(), int64(uv()), uv(), int64(uv())
	case tagStats:
		n := uv()
		for i := uint64(0); i < n && e == nil && i < 1024; i++ {
			var c Counter
			c.Name, e = r.str()
			c.Value = uv()
			rec.counters = append(rec.counters, c)
		}
	case tagEnd:
	default:
		return fmt.Errorf("unknown record tag %q", tag)
	}
	if e == io.EOF || e == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: tag %q", errTruncated, tag)
	}
	return e
}
