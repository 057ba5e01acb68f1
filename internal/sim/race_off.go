//go:build !race

package sim

// raceEnabled is true in a -race build, where the simulation runs about
// four times slower: the default test runs fewer seeds then.
const raceEnabled = false
