package serve

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/snowlease/idgen/snowflake"
)

// Spread is one Source made of several, each with its own worker ID, for a
// server that must issue more IDs per second than one worker ID allows (the
// Twitter layout's 4,096,000 IDs/s). Each NextN call takes its IDs from one
// of them, in turn, so the IDs of one response still increase; the IDs of
// two responses are unique but, with more than one source, not in order.
// It is ready when any of them is. The sources must share a layout.
func Spread(srcs ...Source) (Source, error) {
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%w: Spread needs at least one Source", ErrInvalidOptions)
	}
	for i, s := range srcs {
		if s == nil {
			return nil, fmt.Errorf("%w: Spread: Source %d is nil", ErrInvalidOptions, i)
		}
		if s.Layout() != srcs[0].Layout() {
			return nil, fmt.Errorf("%w: Spread: Source %d has another layout (%s, not %s)",
				ErrInvalidOptions, i, s.Layout().Fingerprint(), srcs[0].Layout().Fingerprint())
		}
	}
	if len(srcs) == 1 {
		return srcs[0], nil
	}
	return &spread{srcs: srcs}, nil
}

type spread struct {
	srcs []Source
	next atomic.Uint64
}

// NextN fills dst from one source, trying the next one when a source
// issues nothing. A source that fails after a partial fill ends the call
// with that error (the caller drops the partial batch: mixing two sources
// in one batch would break its order).
func (s *spread) NextN(dst []snowflake.ID) (int, error) {
	first := s.next.Add(1)
	var errs []error
	for i := range s.srcs {
		src := s.srcs[(first+uint64(i))%uint64(len(s.srcs))]
		done := 0
		for done < len(dst) {
			k, err := src.NextN(dst[done:])
			done += k
			if err != nil {
				if done > 0 {
					return done, err
				}
				errs = append(errs, err)
				break
			}
			if k == 0 { // no progress and no reason: try another source
				if done > 0 {
					return done, errors.New("a source issued no IDs and gave no reason")
				}
				break
			}
		}
		if done == len(dst) {
			return done, nil
		}
	}
	return 0, joinDistinct(errs)
}

// Ready is nil when any source is ready.
func (s *spread) Ready() error {
	var errs []error
	for _, src := range s.srcs {
		err := src.Ready()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return joinDistinct(errs)
}

// joinDistinct is errors.Join of errs less those whose message repeats an
// earlier one's: sources that cannot issue for one reason (all starting,
// all fenced by one Redis outage) say it once, not once a source.
func joinDistinct(errs []error) error {
	var kept []error
	for _, err := range errs {
		if !slices.ContainsFunc(kept, func(k error) bool { return k.Error() == err.Error() }) {
			kept = append(kept, err)
		}
	}
	return errors.Join(kept...)
}

func (s *spread) Layout() snowflake.Layout { return s.srcs[0].Layout() }
