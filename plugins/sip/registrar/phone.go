package registrar

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
)

// The phone index: per phone id, how many bindings it holds in which AORs,
// for FirstForPhone/LastForPhone, PhoneCount and RemovePhone. Its shards
// are locked inside an AOR shard's lock, never the other way round.
type phoneShard struct {
	mu sync.Mutex
	m  map[string]*phoneEntry
	_  [64]byte
}

type phoneEntry struct {
	total int32
	aors  []phoneAOR
	one   [1]phoneAOR // aors' storage for a phone in one AOR
}

type phoneAOR struct {
	aor string // the record's own copy
	n   int32
}

type phoneDelta struct {
	phone string
	n     int
}

func addDelta(ds []phoneDelta, phone string, n int) []phoneDelta {
	if phone == "" {
		return ds
	}
	for i := range ds {
		if ds[i].phone == phone {
			ds[i].n += n
			return ds
		}
	}
	return append(ds, phoneDelta{phone, n})
}

func (r *Registrar) phoneShardOf(phone string) *phoneShard {
	return &r.phones[maphash.String(r.seed, phone)%nShards]
}

// phoneAdd adds d to phone's binding count in aor and returns the phone's
// total before and after.
func (r *Registrar) phoneAdd(phone, aor string, d int) (before, after int) {
	if phone == "" || d == 0 {
		return 0, 0
	}
	ps := r.phoneShardOf(phone)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pe := ps.m[phone]
	if pe == nil {
		if d < 0 {
			return 0, 0 // not indexed: nothing to take away
		}
		pe = &phoneEntry{}
		pe.aors = pe.one[:0]
		ps.m[strings.Clone(phone)] = pe
	}
	before = int(pe.total)
	found := false
	for i := range pe.aors {
		if pe.aors[i].aor == aor {
			pe.aors[i].n += int32(d)
			if pe.aors[i].n <= 0 {
				pe.aors = slices.Delete(pe.aors, i, i+1) // zeroes the freed slot
			}
			found = true
			break
		}
	}
	if !found && d > 0 {
		pe.aors = append(pe.aors, phoneAOR{aor: aor, n: int32(d)})
	}
	pe.total += int32(d)
	if pe.total <= 0 {
		delete(ps.m, phone)
		return before, 0
	}
	return before, int(pe.total)
}
