package registrar

// A min-heap of a shard's records by record.next, which is at most the
// record's earliest expiry: Update lowers it when a binding expires
// sooner but leaves it when the bindings expire later (a refresh), and
// Expire, which pops records whose key has come, re-keys those with
// bindings still live. Each record knows its index (record.hidx, -1 when
// not in the heap).

func (s *shard) less(i, j int) bool { return s.heap[i].next < s.heap[j].next }

func (s *shard) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.heap[i].hidx = i
	s.heap[j].hidx = j
}

func (s *shard) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !s.less(j, i) {
			break
		}
		s.swap(i, j)
		j = i
	}
}

func (s *shard) down(i0 int) bool {
	i, n := i0, len(s.heap)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && s.less(j2, j) {
			j = j2
		}
		if !s.less(j, i) {
			break
		}
		s.swap(i, j)
		i = j
	}
	return i > i0
}

func (s *shard) heapPush(rec *record) {
	rec.hidx = len(s.heap)
	s.heap = append(s.heap, rec)
	s.up(rec.hidx)
}

func (s *shard) heapFix(i int) {
	if !s.down(i) {
		s.up(i)
	}
}

func (s *shard) heapRemove(i int) {
	last := len(s.heap) - 1
	rec := s.heap[i]
	if i != last {
		s.swap(i, last)
	}
	s.heap[last] = nil
	s.heap = s.heap[:last]
	rec.hidx = -1
	if i != last {
		s.heapFix(i)
	}
}
