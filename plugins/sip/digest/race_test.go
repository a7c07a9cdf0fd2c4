//go:build race

package digest

// The race detector makes sync.Pool drop items at random: allocation counts
// mean nothing then.
const raceEnabled = true
