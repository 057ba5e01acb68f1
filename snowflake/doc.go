// Package snowflake is the ID core of idgen: bit layouts, the ID type and its
// encodings, and a lock-free, fenced generator. It uses no network and no
// package-level state; leasing worker IDs is the lease package's job.
//
// # Bit layout
//
// An ID is a positive int64. From the most significant bit down:
//
//	0 | tick (TimeBits) | worker (WorkerBits) | sequence (SequenceBits)
//
// A tick is one Layout.TimeUnit since Layout.Epoch; the three widths sum to
// 63, so the sign bit is always zero and IDs sort by time, then worker, then
// sequence. The Twitter preset (41/10/12, 1 ms) gives the same int64 as
// github.com/bwmarrin/snowflake's default node for the same time, worker and
// sequence, and the string encodings (Base2/32/36/58/64) are bwmarrin's, so
// IDs stay interchangeable with systems that already use it.
//
// # Guarantees of a Generator
//
//   - Every ID it returns is greater than every ID it returned before (IDs
//     are strictly increasing in the order the calls take effect, and so in
//     each goroutine), so one generator never repeats an ID.
//   - Its time is the monotonic clock, anchored once to the wall clock when
//     the generator is made. Steps of the wall clock after that (NTP, an
//     operator, a VM migration) change nothing: ticks never go backwards.
//   - It issues no tick above its fence (Options.Fence, SetFence) and none at
//     or below Options.StartAfter. Refusals return ErrFenced at once; Next
//     never blocks on anything but its own clock.
//   - After Stop returns, no ID with a tick above LastTick is ever issued:
//     Stop and issuing change the same atomic word.
//   - It never issues a negative or wrapped ID: past the layout's last tick it
//     returns ErrTimeExhausted.
//   - The ID 0 is never issued (the first tick is always at least 1), so the
//     zero ID can mean "none".
//
// What these rest on: IDs of different generators are unique only if no two
// of them issue the same tick with the same layout and worker ID. The lease
// package arranges that with a worker-ID lease, a fence in ID-time and a
// high-water mark (passed here as StartAfter); see docs/design.md.
//
// # Concurrency
//
// Generator is safe for concurrent use by any number of goroutines. ID,
// Layout, Parts, Options and Stats are plain values.
package snowflake
