package lease

// Keys are the Redis key names of one namespace, for tools that inspect it
// (idgen doctor, monitoring). The lease scripts are the only writers.
type Keys struct {
	Meta  string // hash: layout fingerprint, workers, quarantine tick, epoch
	Epoch string // string: the dataset epoch; gone means Redis lost its data
	HWM   string // hash: worker ID -> high-water mark (tick)
}

// KeysOf returns the key names of namespace ns.
func KeysOf(ns string) Keys {
	k := newKeySet(ns)
	return Keys{Meta: k.meta, Epoch: k.epoch, HWM: k.hwm}
}

// LeaseKey is the name of the lease key of worker ID id in namespace ns.
func LeaseKey(ns string, id int64) string { return newKeySet(ns).lease(id) }
