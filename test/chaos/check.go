package chaos

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/snowlease/idgen/snowflake"
)

// Report is what Check found in the files of one run.
type Report struct {
	IDs        uint64 // IDs read, over all files
	Duplicates uint64 // IDs issued more than once (each extra issue counts)
	Processes  int
	// Backwards counts runs that did not start above the previous ID of
	// their process.
	Backwards uint64
	// AboveFence counts IDs whose tick is above the fence their process
	// recorded right after issuing them.
	AboveFence uint64
	// Unfenced counts IDs whose fence is unknown: the Generator moved to
	// another worker ID between NextN and Stats.
	Unfenced uint64
	// WrongWorker counts runs whose IDs do not carry the worker ID of the
	// fence record they follow (a format or generator error).
	WrongWorker uint64
	// Procs are the files, one per process, in the order given.
	Procs []*Proc
	// Problems holds the first few examples of every failure.
	Problems []string
}

// Proc is what one file says about its process.
type Proc struct {
	File string
	Header
	IDs, Runs       uint64
	FirstID, LastID int64
	Backwards       uint64
	AboveFence      uint64
	Unfenced        uint64
	WrongWorker     uint64
	// Tenures are the stretches of IDs with one worker ID, in order.
	Tenures []Tenure
	// Outages are the times without IDs, as the process saw them.
	Outages []Outage
	// LeaseLosses are when Stats().LeasesLost rose.
	LeaseLosses []time.Time
	ClockEvents []ClockEvent
	// Acquired is when idgen.New first succeeded, after AcquireTries tries
	// taking AcquireTook; zero if it never did.
	Acquired     time.Time
	AcquireTook  time.Duration
	AcquireTries int
	// Counters are the final counters; nil if the process did not end
	// cleanly.
	Counters map[string]uint64
	// Clean is true when the file ends with an end record; Truncated when
	// its last record was cut short.
	Clean, Truncated bool
	// Skew is the median of (time of a batch's last tick - wall time read
	// right after the batch): the offset of the process's clock, give or
	// take a tick. Valid when SkewSamples > 0.
	Skew        time.Duration
	SkewSamples int
}

// Tenure is a stretch of a process's IDs with one worker ID and one lease
// (a lease loss recorded between two runs starts a new tenure).
type Tenure struct {
	Worker          int64
	FirstID, LastID int64
	IDs             uint64
	// From and To are the wall times of the fence records read after the
	// first and the last batch of the tenure.
	From, To time.Time
}

// Outage is a time when a process could not get IDs.
type Outage struct {
	Start time.Time
	Dur   time.Duration
	Kinds uint64 // KindFenced | KindLost | ...
	Fails uint64
	Msg   string // the first error
	Last  string // the last error
}

// End is when the outage ended.
func (o Outage) End() time.Time { return o.Start.Add(o.Dur) }

// ClockEvent is a clock guard event (a clockguard.EventKind value).
type ClockEvent struct {
	At     time.Time
	Kind   int
	Amount time.Duration
}

const maxProblems = 20

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Files returns the *.ids files in dir, sorted.
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.ids"))
	sort.Strings(files)
	return files, err
}

// Check reads every file and checks the IDs in them: across all files no ID
// twice, within each file strictly increasing IDs, and no ID above the fence
// recorded after its batch. Its error is for files it cannot read; what it
// found is in the Report, and Report.Err says whether the run failed.
//
// Memory is proportional to the number of files, not of IDs: each file's
// runs are in increasing order (Check verifies it), so a k-way merge finds
// every overlap. A file whose IDs go backwards is loaded and sorted instead.
func Check(files []string) (*Report, error) {
	r := &Report{}
	for _, f := range files {
		p, err := scan(f, r)
		if err != nil {
			return nil, fmt.Errorf("chaos: %s: %w", f, err)
		}
		r.Procs = append(r.Procs, p)
		r.IDs += p.IDs
		r.Backwards += p.Backwards
		r.AboveFence += p.AboveFence
		r.Unfenced += p.Unfenced
		r.WrongWorker += p.WrongWorker
	}
	r.Processes = len(r.Procs)
	if err := r.merge(); err != nil {
		return nil, err
	}
	return r, nil
}

// scan is the first pass over one file: everything but duplicates across
// files.
func scan(file string, r *Report) (*Proc, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := openReader(f)
	if err != nil {
		return nil, err
	}
	p := &Proc{File: file, Header: rd.header}
	lay := p.Layout
	var (
		rec       record
		haveFence bool
		fWorker   int64
		fFence    int64
		fWall     time.Time
		newFence  bool // no run since the last fence record
		skews     []int64
		prevLast  int64
		started   bool
		cur       *Tenure
	)
	for {
		err := rd.next(&rec)
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTruncated) {
			p.Truncated = true
			break
		}
		if err != nil {
			return nil, err
		}
		switch rec.tag {
		case tagFence:
			haveFence, fWorker, fFence, fWall, newFence = true, rec.worker, rec.fence, time.Unix(0, rec.wall), true
		case tagRun:
			n := uint64(rec.last - rec.first + 1)
			p.IDs += n
			p.Runs++
			if !started {
				p.FirstID = rec.first
			} else if rec.first <= prevLast {
				p.Backwards++
				r.problem("%s: backwards: ID %d after %d", p.Name, rec.first, prevLast)
			}
			started = true
			prevLast = rec.last
			p.LastID = rec.last
			first, last := lay.Decompose(snowflake.ID(rec.first)), lay.Decompose(snowflake.ID(rec.last))
			switch {
			case !haveFence || first.Worker != fWorker || last.Worker != fWorker:
				p.WrongWorker++
				r.problem("%s: run %d..%d of worker %d follows the fence record of worker %d",
					p.Name, rec.first, rec.last, first.Worker, fWorker)
			case fFence < 0:
				p.Unfenced += n
			case last.Tick > fFence:
				above := n
				if first.Tick <= fFence { // the run crosses ticks (no worker bits): count the part above
					boundary := (fFence+1)<<(lay.WorkerBits+lay.SequenceBits) | fWorker<<lay.SequenceBits
					above = uint64(rec.last - boundary + 1)
				}
				p.AboveFence += above
				r.problem("%s: IDs %d..%d (ticks %d..%d, worker %d) above the fence %d",
					p.Name, rec.first, rec.last, first.Tick, last.Tick, first.Worker, fFence)
			}
			if newFence {
				newFence = false
				skews = append(skews, int64(lay.Time(last.Tick).Sub(fWall)))
			}
			if cur == nil || cur.Worker != first.Worker {
				p.Tenures = append(p.Tenures, Tenure{Worker: first.Worker, FirstID: rec.first, From: fWall})
				cur = &p.Tenures[len(p.Tenures)-1]
			}
			cur.LastID, cur.To = rec.last, fWall
			cur.IDs += n
		case tagOutage:
			p.Outages = append(p.Outages, Outage{Start: time.Unix(0, rec.wall), Dur: time.Duration(rec.dur),
				Kinds: rec.kinds, Fails: rec.count, Msg: rec.msg, Last: rec.msg2})
		case tagLost:
			p.LeaseLosses = append(p.LeaseLosses, time.Unix(0, rec.wall))
			cur = nil // the next run is under a new lease, even with the same worker ID
		case tagClock:
			p.ClockEvents = append(p.ClockEvents, ClockEvent{At: time.Unix(0, rec.wall), Kind: rec.kind,
				Amount: time.Duration(rec.dur)})
		case tagAcquired:
			p.Acquired, p.AcquireTook, p.AcquireTries = time.Unix(0, rec.wall), time.Duration(rec.dur), int(rec.count)
		case tagStats:
			p.Counters = make(map[string]uint64, len(rec.counters))
			for _, c := range rec.counters {
				p.Counters[c.Name] = c.Value
			}
		case tagEnd:
			p.Clean = true
		}
	}
	if len(skews) > 0 {
		slices.Sort(skews)
		p.Skew, p.SkewSamples = time.Duration(skews[len(skews)/2]), len(skews)
	}
	return p, nil
}

// run is an inclusive range of IDs from one process.
type run struct {
	first, last int64
	proc        int
}

// stream yields a process's runs in increasing order.
type stream interface {
	next() (run, bool, error)
	close()
}

type fileStream struct {
	f    *os.File
	rd   *reader
	proc int
	rec  record
}

func (s *fileStream) next() (run, bool, error) {
	for {
		err := s.rd.next(&s.rec)
		if err == io.EOF || errors.Is(err, errTruncated) {
			return run{}, false, nil
		}
		if err != nil {
			return run{}, false, err
		}
		if s.rec.tag == tagRun {
			return run{s.rec.first, s.rec.last, s.proc}, true, nil
		}
	}
}

func (s *fileStream) close() { s.f.Close() }

type sliceStream struct {
	runs []run
}

func (s *sliceStream) next() (run, bool, error) {
	if len(s.runs) == 0 {
		return run{}, false, nil
	}
	r := s.runs[0]
	s.runs = s.runs[1:]
	return r, true, nil
}

func (s *sliceStream) close() {}

func openStream(p *Proc, proc int) (stream, error) {
	f, err := os.Open(p.File)
	if err != nil {
		return nil, err
	}
	rd, err := openReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	fs := &fileStream{f: f, rd: rd, proc: proc}
	if p.Backwards == 0 {
		return fs, nil
	}
	// Not in order: load and sort (only a failing run gets here).
	defer fs.close()
	var runs []run
	for {
		r, ok, err := fs.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b run) int { return cmpInt(a.first, b.first) })
	return &sliceStream{runs: runs}, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type runHeap struct {
	runs    []run
	streams []stream
}

func (h *runHeap) Len() int           { return len(h.runs) }
func (h *runHeap) Less(i, j int) bool { return h.runs[i].first < h.runs[j].first }
func (h *runHeap) Swap(i, j int)      { h.runs[i], h.runs[j] = h.runs[j], h.runs[i] }
func (h *runHeap) Push(x any)         { h.runs = append(h.runs, x.(run)) }
func (h *runHeap) Pop() any {
	r := h.runs[len(h.runs)-1]
	h.runs = h.runs[:len(h.runs)-1]
	return r
}

// merge is the second pass: a k-way merge of every file's runs by first
// ID; a run that starts at or below the highest ID seen so far overlaps it.
func (r *Report) merge() error {
	h := &runHeap{}
	defer func() {
		for _, s := range h.streams {
			s.close()
		}
	}()
	for i, p := range r.Procs {
		s, err := openStream(p, i)
		if err != nil {
			return fmt.Errorf("chaos: %s: %w", p.File, err)
		}
		h.streams = append(h.streams, s)
		first, ok, err := s.next()
		if err != nil {
			return fmt.Errorf("chaos: %s: %w", p.File, err)
		}
		if ok {
			h.runs = append(h.runs, first)
		}
	}
	heap.Init(h)
	var (
		maxLast  int64 = -1
		maxOwner       = -1
	)
	for h.Len() > 0 {
		cur := h.runs[0]
		if nxt, ok, err := h.streams[cur.proc].next(); err != nil {
			return fmt.Errorf("chaos: %s: %w", r.Procs[cur.proc].File, err)
		} else if ok {
			h.runs[0] = nxt
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
		if maxOwner >= 0 && cur.first <= maxLast { // (a damaged file can hold negative IDs)
			overlap := min(cur.last, maxLast) - cur.first + 1
			r.Duplicates += uint64(overlap)
			lay := r.Procs[cur.proc].Layout
			pt := lay.Decompose(snowflake.ID(cur.first))
			r.problem("duplicate: %d IDs from %d (tick %d, worker %d, seq %d) issued by %s and %s",
				overlap, cur.first, pt.Tick, pt.Worker, pt.Sequence, r.Procs[maxOwner].Name, r.Procs[cur.proc].Name)
		}
		if cur.last > maxLast {
			maxLast, maxOwner = cur.last, cur.proc
		}
	}
	return nil
}

// Err is nil when the run passed: no duplicate, no process going backwards,
// no ID above its fence, and every run under a fence record of its worker.
func (r *Report) Err() error {
	if r.Duplicates == 0 && r.Backwards == 0 && r.AboveFence == 0 && r.WrongWorker == 0 {
		return nil
	}
	return fmt.Errorf("chaos: %d duplicates, %d backward steps, %d IDs above their fence, %d runs under a wrong fence record:\n  %s",
		r.Duplicates, r.Backwards, r.AboveFence, r.WrongWorker, strings.Join(r.Problems, "\n  "))
}

// Summary is the one-line result of a run, with the faults injected by kind.
func (r *Report) Summary(faults map[string]int) string {
	kinds := make([]string, 0, len(faults))
	total := 0
	for k, n := range faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		total += n
	}
	sort.Strings(kinds)
	return fmt.Sprintf("chaos: IDs checked %d, duplicates %d, processes %d, faults injected %d (by kind %s)",
		r.IDs, r.Duplicates, r.Processes, total, strings.Join(kinds, ", "))
}

// Holders returns, for worker ID w, every tenure of any process on it,
// ordered by first ID, with the index of the process in r.Procs.
func (r *Report) Holders(w int64) []Holder {
	var hs []Holder
	for i, p := range r.Procs {
		for _, t := range p.Tenures {
			if t.Worker == w {
				hs = append(hs, Holder{Proc: i, Tenure: t})
			}
		}
	}
	slices.SortFunc(hs, func(a, b Holder) int { return cmpInt(a.FirstID, b.FirstID) })
	return hs
}

// Holder is a tenure of process Proc.
type Holder struct {
	Proc int
	Tenure
}

// Handovers counts, over all worker IDs, how often consecutive tenures of a
// worker ID belong to different processes.
func (r *Report) Handovers() int {
	workers := map[int64]bool{}
	for _, p := range r.Procs {
		for _, t := range p.Tenures {
			workers[t.Worker] = true
		}
	}
	n := 0
	for w := range workers {
		hs := r.Holders(w)
		for i := 1; i < len(hs); i++ {
			if hs[i].Proc != hs[i-1].Proc {
				n++
			}
		}
	}
	return n
}

// RunInfo is one run of consecutive IDs and the fence record it follows.
type RunInfo struct {
	Worker      int64
	Fence       int64     // -1: unknown
	Wall        time.Time // when the fence was read, right after the batch
	First, Last int64     // inclusive
}

// Runs calls fn for every run in file, in order, until fn returns false.
// A truncated last record ends the iteration without an error.
func Runs(file string, fn func(RunInfo) bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := openReader(f)
	if err != nil {
		return err
	}
	var rec record
	var cur RunInfo
	for {
		err := rd.next(&rec)
		if err == io.EOF || errors.Is(err, errTruncated) {
			return nil
		}
		if err != nil {
			return err
		}
		switch rec.tag {
		case tagFence:
			cur.Worker, cur.Fence, cur.Wall = rec.worker, rec.fence, time.Unix(0, rec.wall)
		case tagRun:
			cur.First, cur.Last = rec.first, rec.last
			if !fn(cur) {
				return nil
			}
		}
	}
}
