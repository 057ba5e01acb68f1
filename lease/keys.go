package lease

import "strconv"

// keySet names the keys of one namespace. Every key starts with the hash
// tag "{namespace}", so on Redis Cluster they share one slot and a script
// may touch any of them.
//
//	{ns}:lease:<id>  string, PX TTL: "<token>|<host>|<pid>|<startUnixMs>|<startAfter>"
//	{ns}:hwm         hash, no TTL:  worker id -> highest tick its holders may have issued; _epoch, _replicas
//	{ns}:meta        hash, no TTL:  layout (fingerprint), workers, quarantine (tick), epoch
//	{ns}:epoch       string, no TTL: random dataset epoch; gone = Redis lost its data
//
// The hashes carry the epoch value too, so that losing one of them alone is
// detected like losing everything.
type keySet struct {
	meta, epoch, hwm, leasePrefix string
}

func newKeySet(ns string) keySet {
	tag := "{" + ns + "}"
	return keySet{
		meta:        tag + ":meta",
		epoch:       tag + ":epoch",
		hwm:         tag + ":hwm",
		leasePrefix: tag + ":lease:",
	}
}

func (k keySet) lease(id int64) string {
	return k.leasePrefix + strconv.FormatInt(id, 10)
}

// window appends to dst the lease keys of the n worker IDs first,
// first+1, ... (mod workers). The keys share one backing string: two
// allocations instead of two per key, since acquire sends up to 1024.
func (k keySet) window(dst []string, first, n, workers int64) []string {
	buf := make([]byte, 0, n*int64(len(k.leasePrefix)+11))
	ends := make([]int, n)
	for i := range n {
		buf = append(buf, k.leasePrefix...)
		buf = strconv.AppendInt(buf, (first+i)%workers, 10)
		ends[i] = len(buf)
	}
	all, start := string(buf), 0
	for _, end := range ends {
		dst = append(dst, all[start:end])
		start = end
	}
	return dst
}
