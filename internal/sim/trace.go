package sim

import (
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"strconv"
	"time"

	"github.com/snowlease/idgen/snowflake"
)

// tracer hashes every line of a schedule's trace, and writes the lines out
// when replaying one seed. The lines hold only what a seed determines
// (virtual times, ticks, IDs, replies without the random tokens and
// epochs), so one seed gives one hash: the replay test compares them.
type tracer struct {
	h   hash.Hash64
	out io.Writer
	buf []byte
}

func newTracer(out io.Writer) tracer { return tracer{h: fnv.New64a(), out: out} }

func (t *tracer) line(now time.Duration, format string, args ...any) {
	t.buf = fmt.Appendf(t.buf[:0], "%10.3fms ", float64(now)/float64(time.Millisecond))
	t.buf = fmt.Appendf(t.buf, format, args...)
	t.buf = append(t.buf, '\n')
	_, _ = t.h.Write(t.buf)
	if t.out != nil {
		_, _ = t.out.Write(t.buf)
	}
}

// issued is the most frequent line, written without fmt.
func (t *tracer) issued(now time.Duration, node string, worker int64, count int, first, last snowflake.ID,
	maxTick, fence int64, refused error) {
	b := fmt.Appendf(t.buf[:0], "%10.3fms ", float64(now)/float64(time.Millisecond))
	b = append(b, node...)
	b = append(b, " w"...)
	b = strconv.AppendInt(b, worker, 10)
	b = append(b, " issued "...)
	b = strconv.AppendInt(b, int64(count), 10)
	b = append(b, " ["...)
	b = strconv.AppendInt(b, int64(first), 10)
	b = append(b, ".."...)
	b = strconv.AppendInt(b, int64(last), 10)
	b = append(b, "] tick<="...)
	b = strconv.AppendInt(b, maxTick, 10)
	b = append(b, " fence="...)
	b = strconv.AppendInt(b, fence, 10)
	if refused != nil {
		b = append(b, " refused: "...)
		b = append(b, refused.Error()...)
	}
	b = append(b, '\n')
	t.buf = b
	_, _ = t.h.Write(b)
	if t.out != nil {
		_, _ = t.out.Write(b)
	}
}

func (t *tracer) sum() uint64 { return t.h.Sum64() }
