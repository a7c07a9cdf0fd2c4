package registrar

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const aor = "sip:201@voip.example"

func contact(uri string, expires int) ContactReq {
	return ContactReq{URI: uri, Expires: expires, Q: Absent}
}

func reg(callID string, cseq uint32, contacts ...ContactReq) Request {
	return Request{
		CallID: callID, CSeq: cseq, Contacts: contacts, HeaderExpires: Absent,
		PhoneID: "201", Transport: "udp", Source: "192.0.2.1:5060", UserAgent: "Acme 1.0",
	}
}

func with(r Request, f func(*Request)) Request { f(&r); return r }

// step is one REGISTER of a scenario and what must come of it.
type step struct {
	at  time.Duration // after t0
	req Request
	err error
	// want: contact → seconds left, of Result.Bindings (nil: not checked
	// on error; checked empty otherwise).
	want           map[string]int
	added, removed int
	first, last    bool
	minExpires     int
}

func TestUpdate(t *testing.T) {
	const a, b, c = "sip:201@192.0.2.1:5060", "sip:201@192.0.2.2:5060", "sip:201@192.0.2.3:5060"
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{name: "new registration takes DefaultExpires", steps: []step{
			{req: reg("c1", 1, contact(a, Absent)), want: map[string]int{a: 3600}, added: 1, first: true},
		}},
		{name: "Expires header when the contact has no expires", steps: []step{
			{req: with(reg("c1", 1, contact(a, Absent)), func(r *Request) { r.HeaderExpires = 120 }), want: map[string]int{a: 120}, added: 1, first: true},
		}},
		{name: "contact expires wins over the header", steps: []step{
			{req: with(reg("c1", 1, contact(a, 300), contact(b, Absent)), func(r *Request) { r.HeaderExpires = 120 }), want: map[string]int{a: 300, b: 120}, added: 2, first: true},
		}},
		{name: "above MaxExpires is shortened", cfg: Config{MaxExpires: 1800 * time.Second}, steps: []step{
			{req: reg("c1", 1, contact(a, 7200)), want: map[string]int{a: 1800}, added: 1, first: true},
			{req: reg("c1", 2, contact(a, Absent)), want: map[string]int{a: 1800}},
		}},
		{name: "guest capped at GuestExpires", cfg: Config{GuestExpires: 90 * time.Second}, steps: []step{
			{req: with(reg("c1", 1, contact(a, 3600)), func(r *Request) { r.Guest = true }), want: map[string]int{a: 90}, added: 1, first: true},
			{req: with(reg("c1", 2, contact(a, Absent)), func(r *Request) { r.Guest = true }), want: map[string]int{a: 90}},
			// Back home (not a guest): the long expiry again.
			{req: reg("c1", 3, contact(a, 3600)), want: map[string]int{a: 3600}},
		}},
		{name: "guest below the cap keeps its own", cfg: Config{GuestExpires: 90 * time.Second}, steps: []step{
			{req: with(reg("c1", 1, contact(a, 75)), func(r *Request) { r.Guest = true }), want: map[string]int{a: 75}, added: 1, first: true},
		}},
		{name: "below MinExpires is 423 and changes nothing", steps: []step{
			{req: reg("c1", 1, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{req: reg("c1", 2, contact(a, 30)), err: ErrIntervalTooBrief, minExpires: 60},
			{req: with(reg("c1", 3, contact(b, Absent)), func(r *Request) { r.HeaderExpires = 59 }), err: ErrIntervalTooBrief, minExpires: 60},
			{req: reg("c1", 4), want: map[string]int{a: 3600}},
		}},
		{name: "expires=0 removes, last for the phone", steps: []step{
			{req: reg("c1", 1, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{at: 10 * time.Second, req: reg("c1", 2, contact(a, 0)), want: map[string]int{}, removed: 1, last: true},
		}},
		{name: "Expires: 0 header removes", steps: []step{
			{req: reg("c1", 1, contact(a, 3600), contact(b, 3600)), want: map[string]int{a: 3600, b: 3600}, added: 2, first: true},
			{req: with(reg("c1", 2, contact(a, Absent)), func(r *Request) { r.HeaderExpires = 0 }), want: map[string]int{b: 3600}, removed: 1},
		}},
		{name: "removing an unknown contact is a no-op", steps: []step{
			{req: reg("c1", 1, contact(a, 0)), want: map[string]int{}},
			{req: reg("c1", 2, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{req: reg("c1", 3, contact(b, 0)), want: map[string]int{a: 3600}},
		}},
		{name: "star removes every binding", steps: []step{
			{req: reg("c1", 1, contact(a, 3600), contact(b, 600)), want: map[string]int{a: 3600, b: 600}, added: 2, first: true},
			{req: with(reg("c2", 1, contact(c, 3600)), func(r *Request) { r.PhoneID = "201-soft" }), want: map[string]int{a: 3600, b: 600, c: 3600}, added: 1, first: true},
			{req: with(reg("c1", 2), func(r *Request) { r.Star, r.HeaderExpires = true, 0 }), want: map[string]int{}, removed: 3, last: true},
		}},
		{name: "star needs Expires: 0", steps: []step{
			{req: reg("c1", 1, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{req: with(reg("c1", 2), func(r *Request) { r.Star = true }), err: ErrBadRequest},
			{req: with(reg("c1", 3), func(r *Request) { r.Star, r.HeaderExpires = true, 3600 }), err: ErrBadRequest},
			{req: reg("c1", 4), want: map[string]int{a: 3600}},
		}},
		{name: "star must be alone", steps: []step{
			{req: with(reg("c1", 1, contact(a, 0)), func(r *Request) { r.Star, r.HeaderExpires = true, 0 }), err: ErrBadRequest},
		}},
		{name: "star out of order", steps: []step{
			{req: reg("c1", 5, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{req: with(reg("c1", 5), func(r *Request) { r.Star, r.HeaderExpires = true, 0 }), err: ErrOutOfOrder},
			{req: with(reg("c2", 1), func(r *Request) { r.Star, r.HeaderExpires = true, 0 }), want: map[string]int{}, removed: 1, last: true},
		}},
		{name: "same Call-ID needs a higher CSeq", steps: []step{
			{req: reg("c1", 5, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{req: reg("c1", 5, contact(a, 600)), err: ErrOutOfOrder}, // a retransmission the caller failed to absorb
			{req: reg("c1", 4, contact(a, 600)), err: ErrOutOfOrder},
			{req: reg("c1", 4, contact(a, 0)), err: ErrOutOfOrder},
			{at: time.Minute, req: reg("c1", 6, contact(a, 600)), want: map[string]int{a: 600}},
		}},
		{name: "a different Call-ID replaces, whatever its CSeq", steps: []step{
			{req: reg("c1", 5, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{req: reg("c2", 1, contact(a, 600)), want: map[string]int{a: 600}},
		}},
		{name: "all or nothing", steps: []step{
			{req: reg("c1", 5, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{req: with(reg("c2", 1, contact(b, 3600)), func(r *Request) { r.PhoneID = "other" }), want: map[string]int{a: 3600, b: 3600}, added: 1, first: true},
			// c (new) and a (fine) come before b, which is out of order.
			{req: with(reg("c2", 1, contact(c, 3600), contact(a, 0), contact(b, 600)), func(r *Request) { r.PhoneID = "other" }), err: ErrOutOfOrder},
			{req: reg("c9", 1), want: map[string]int{a: 3600, b: 3600}},
		}},
		{name: "one contact twice in a request", steps: []step{
			{req: reg("c1", 1, contact(a, 3600), contact(a, 600)), want: map[string]int{a: 600}, added: 1, first: true},
			{req: reg("c1", 2, contact(a, 3600), contact(a, 0)), want: map[string]int{}, removed: 1, last: true},
		}},
		{name: "query changes nothing", steps: []step{
			{req: reg("c1", 1), want: map[string]int{}},
			{req: reg("c1", 2, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			{at: 100 * time.Second, req: reg("c1", 2), want: map[string]int{a: 3500}},
		}},
		{name: "MaxContactsPerAOR", cfg: Config{MaxContactsPerAOR: 2}, steps: []step{
			{req: reg("c1", 1, contact(a, 3600), contact(b, 3600)), want: map[string]int{a: 3600, b: 3600}, added: 2, first: true},
			{req: with(reg("x1", 1, contact(c, 3600)), func(r *Request) { r.PhoneID = "other" }), err: ErrTooManyContacts},
			{req: reg("c1", 2, contact(c, 3600)), err: ErrTooManyContacts}, // same Call-ID: not leftovers
			{req: reg("c1", 3, contact(a, 600), contact(b, 600)), want: map[string]int{a: 600, b: 600}},
			{req: reg("c1", 4, contact(a, 0), contact(c, 3600)), want: map[string]int{b: 600, c: 3600}, added: 1, removed: 1},
			{req: reg("c1", 5, contact(a, 60), contact(b, 60), contact(c, 60)), err: ErrTooManyContacts},
		}},
		{name: "a restarted phone displaces its leftovers", cfg: Config{MaxContactsPerAOR: 1}, steps: []step{
			{req: reg("boot1", 1, contact(a, 3600)), want: map[string]int{a: 3600}, added: 1, first: true},
			// New Call-ID, new contact (TCP port changed): a is displaced.
			{at: time.Second, req: reg("boot2", 1, contact(b, 3600)), want: map[string]int{b: 3600}, added: 1, removed: 1},
			// Another phone is refused, not displacing.
			{req: with(reg("x", 1, contact(c, 3600)), func(r *Request) { r.PhoneID = "other" }), err: ErrTooManyContacts},
		}},
		{name: "expired but not yet reaped", steps: []step{
			{req: reg("c1", 5, contact(a, 60)), want: map[string]int{a: 60}, added: 1, first: true},
			{at: 61 * time.Second, req: reg("c1", 6), want: map[string]int{}},
			// Same Call-ID, lower CSeq: the dead binding does not count.
			{at: 62 * time.Second, req: reg("c1", 1, contact(a, 60)), want: map[string]int{a: 60}},
		}},
		{name: "bad requests", steps: []step{
			{req: reg("c1", 1, ContactReq{URI: a, Expires: Absent, Q: 1.5}), err: ErrBadRequest},
			{req: reg("c1", 1, ContactReq{URI: a, Expires: Absent, Q: -0.5}), err: ErrBadRequest},
			{req: reg("c1", 1, contact(a, -2)), err: ErrBadRequest},
			{req: reg("c1", 1, contact("", 60)), err: ErrBadRequest},
			{req: reg("", 1, contact(a, 60)), err: ErrBadRequest},
			{req: with(reg("c1", 1, contact(a, 60)), func(r *Request) { r.HeaderExpires = -5 }), err: ErrBadRequest},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.cfg)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				res, err := r.Update(aor, s.req, now)
				if s.err != nil {
					if !errors.Is(err, s.err) {
						t.Fatalf("step %d: err = %v, want %v", i, err, s.err)
					}
					if res.MinExpires != s.minExpires {
						t.Errorf("step %d: MinExpires = %d, want %d", i, res.MinExpires, s.minExpires)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				got := map[string]int{}
				for _, b := range res.Bindings {
					got[b.Contact] = b.ExpiresIn(now)
					if b.AOR != aor {
						t.Errorf("step %d: binding AOR %q", i, b.AOR)
					}
				}
				if !maps.Equal(got, s.want) {
					t.Errorf("step %d: bindings %v, want %v", i, got, s.want)
				}
				if res.Added != s.added || res.Removed != s.removed || len(res.RemovedBindings) != s.removed {
					t.Errorf("step %d: added %d removed %d (%d listed), want %d %d", i, res.Added, res.Removed, len(res.RemovedBindings), s.added, s.removed)
				}
				if res.FirstForPhone != s.first || res.LastForPhone != s.last {
					t.Errorf("step %d: first %v last %v, want %v %v", i, res.FirstForPhone, res.LastForPhone, s.first, s.last)
				}
				// Lookup agrees with the result.
				look := map[string]int{}
				for _, b := range r.Lookup(aor, now) {
					look[b.Contact] = b.ExpiresIn(now)
				}
				if !maps.Equal(look, got) {
					t.Errorf("step %d: Lookup %v, Update returned %v", i, look, got)
				}
			}
			checkInvariants(t, r)
		})
	}
}

func TestRefreshKeepsRegistered(t *testing.T) {
	r := New(Config{})
	if _, err := r.Update(aor, reg("c1", 1, contact("sip:a@h", 600)), t0); err != nil {
		t.Fatal(err)
	}
	res, err := r.Update(aor, with(reg("c1", 2, contact("sip:a@h", 600)), func(r *Request) { r.Source = "192.0.2.9:1024" }), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b := res.Bindings[0]
	if !b.Registered.Equal(t0) || !b.Expires.Equal(t0.Add(11*time.Minute)) || b.CSeq != 2 || b.Source != "192.0.2.9:1024" {
		t.Errorf("refresh: %+v", b)
	}
	res, _ = r.Update(aor, reg("c2", 1, contact("sip:a@h", 600)), t0.Add(2*time.Minute))
	if b := res.Bindings[0]; !b.Registered.Equal(t0.Add(2*time.Minute)) || b.CallID != "c2" {
		t.Errorf("new Call-ID: %+v", b)
	}
	if res.Added != 0 || res.FirstForPhone {
		t.Errorf("new Call-ID on the same contact counted as new: %+v", res)
	}
}

func TestStringsAreCopied(t *testing.T) {
	r := New(Config{})
	buf := []byte("sip:201@192.0.2.1:5060 call-1 201 192.0.2.1:5060 Acme udp")
	str := func(i, j int) string { return unsafe.String(&buf[i], j-i) } // like a zero-copy parser
	req := Request{
		CallID: str(23, 29), CSeq: 1, HeaderExpires: Absent, PhoneID: str(30, 33), Source: str(34, 48),
		UserAgent: str(49, 53), Transport: str(54, 57),
		Contacts: []ContactReq{{URI: str(0, 22), Expires: Absent, Q: Absent}},
	}
	if _, err := r.Update(str(4, 7), req, t0); err != nil { // the AOR too
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	b := r.Lookup("201", t0)
	if len(b) != 1 {
		t.Fatalf("Lookup after the buffer changed: %v", b)
	}
	want := Binding{AOR: "201", Contact: "sip:201@192.0.2.1:5060", CallID: "call-1", PhoneID: "201", Source: "192.0.2.1:5060", UserAgent: "Acme", Transport: "udp", CSeq: 1, Q: Absent}
	got := b[0]
	got.Expires, got.Registered = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("stored %+v\nwant   %+v", got, want)
	}
	if r.PhoneCount("201") != 1 {
		t.Errorf("phone index lost its key")
	}
}

func TestLookupOrder(t *testing.T) {
	r := New(Config{})
	req := reg("c1", 1,
		ContactReq{URI: "sip:low@h", Expires: 600, Q: 0.1},
		ContactReq{URI: "sip:none@h", Expires: 600, Q: Absent},
		ContactReq{URI: "sip:mid@h", Expires: 600, Q: 0.5},
		ContactReq{URI: "sip:one@h", Expires: 600, Q: 1},
		ContactReq{URI: "sip:zero@h", Expires: 600, Q: 0},
	)
	if _, err := r.Update(aor, req, t0); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range r.Lookup(aor, t0) {
		got = append(got, b.Contact)
	}
	want := []string{"sip:none@h", "sip:one@h", "sip:mid@h", "sip:low@h", "sip:zero@h"}
	if !slices.Equal(got, want) {
		t.Errorf("Lookup order %v, want %v", got, want)
	}
	if b := r.Lookup(aor, t0)[0]; b.Q != Absent || b.Priority() != 1 {
		t.Errorf("absent q stored as %v (priority %v)", b.Q, b.Priority())
	}
	if got := r.Lookup("sip:nobody@voip.example", t0); got != nil {
		t.Errorf("Lookup of an unknown AOR = %v", got)
	}
}

func TestExpire(t *testing.T) {
	r := New(Config{MinExpires: time.Second})
	rng := rand.New(rand.NewPCG(1, 2))
	// Brute-force model: contact → expiry second.
	model := map[string]int{}
	for i := range 2000 {
		aor := fmt.Sprintf("sip:%d@voip.example", i%300)
		uri := fmt.Sprintf("sip:%d@192.0.2.1:%d", i%300, 5060+i%3)
		exp := 1 + rng.IntN(120)
		if _, err := r.Update(aor, with(reg(fmt.Sprint(i), 1, contact(uri, exp)), func(q *Request) { q.PhoneID = fmt.Sprint(i % 300) }), t0); err != nil {
			t.Fatal(err)
		}
		model[aor+" "+uri] = exp
	}
	_, n := r.Count()
	if n != len(model) {
		t.Fatalf("Count = %d bindings, model has %d", n, len(model))
	}
	for sec := 0; sec <= 121; sec++ {
		now := t0.Add(time.Duration(sec) * time.Second)
		got := r.Expire(now)
		var want []string
		for k, e := range model {
			if e <= sec {
				want = append(want, k)
				delete(model, k)
			}
		}
		var gotKeys []string
		for _, b := range got {
			gotKeys = append(gotKeys, b.AOR+" "+b.Contact)
			if b.Expires.After(now) {
				t.Fatalf("second %d: expired a binding due %v", sec, b.Expires)
			}
		}
		slices.Sort(want)
		slices.Sort(gotKeys)
		if !slices.Equal(gotKeys, want) {
			t.Fatalf("second %d: Expire returned %d bindings, want %d", sec, len(gotKeys), len(want))
		}
		if _, n := r.Count(); n != len(model) {
			t.Fatalf("second %d: Count %d, model %d", sec, n, len(model))
		}
		checkInvariants(t, r)
	}
	if a, b := r.Count(); a != 0 || b != 0 {
		t.Errorf("after everything expired: Count = %d, %d", a, b)
	}
	if r.Expire(t0.Add(time.Hour)) != nil {
		t.Error("Expire on an empty registrar returned bindings")
	}
}

func TestRemoveAndRemovePhone(t *testing.T) {
	r := New(Config{})
	for _, x := range []struct{ aor, uri, phone string }{
		{"sip:201@v", "sip:201@a", "201"},
		{"sip:202@v", "sip:202@a", "201"}, // a second line on phone 201
		{"sip:201@v", "sip:201@b", "201-soft"},
		{"sip:203@v", "sip:203@a", "203"},
	} {
		res, err := r.Update(x.aor, with(reg("c-"+x.phone, 1, contact(x.uri, 600)), func(q *Request) { q.PhoneID = x.phone }), t0)
		if err != nil {
			t.Fatal(err)
		}
		if want := x.aor == "sip:201@v" || x.phone != "201"; res.FirstForPhone != want {
			t.Errorf("%v: FirstForPhone = %v, want %v", x, res.FirstForPhone, want)
		}
	}
	if n := r.PhoneCount("201"); n != 2 {
		t.Errorf("PhoneCount(201) = %d", n)
	}
	got := r.RemovePhone("201")
	if len(got) != 2 || got[0].PhoneID != "201" || got[1].PhoneID != "201" {
		t.Errorf("RemovePhone = %+v", got)
	}
	if n := r.PhoneCount("201"); n != 0 {
		t.Errorf("after RemovePhone: PhoneCount = %d", n)
	}
	if b := r.Lookup("sip:201@v", t0); len(b) != 1 || b[0].PhoneID != "201-soft" {
		t.Errorf("the softphone's binding must stay: %+v", b)
	}
	if a, n := r.Count(); a != 2 || n != 2 {
		t.Errorf("Count = %d, %d; want 2, 2", a, n)
	}
	if got := r.Remove("sip:201@v"); len(got) != 1 {
		t.Errorf("Remove = %+v", got)
	}
	if r.PhoneCount("201-soft") != 0 || r.Lookup("sip:201@v", t0) != nil {
		t.Error("Remove left something behind")
	}
	if r.Remove("sip:nobody@v") != nil || r.RemovePhone("nobody") != nil || r.RemovePhone("") != nil {
		t.Error("removing nothing returned something")
	}
	n := 0
	r.All(func(b Binding) bool { n++; return true })
	if n != 1 {
		t.Errorf("All saw %d bindings, want 1", n)
	}
	checkInvariants(t, r)
}

// Many goroutines on overlapping AORs and phones; -race checks the locking,
// the end state checks the books.
func TestConcurrent(t *testing.T) {
	r := New(Config{MinExpires: time.Second, MaxContactsPerAOR: 4})
	var wg sync.WaitGroup
	const workers, ops = 16, 2000
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var buf []Binding
			for i := range ops {
				now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
				n := rng.IntN(50)
				aor := fmt.Sprintf("sip:%d@v", n)
				phone := fmt.Sprintf("p%d", n%20)
				req := with(reg(fmt.Sprintf("w%d", w), uint32(i+1), contact(fmt.Sprintf("sip:%d@w%d", n, w), 1+rng.IntN(5))), func(q *Request) {
					q.PhoneID, q.Buf = phone, buf
				})
				switch rng.IntN(20) {
				case 0:
					req.Contacts[0].Expires = 0
				case 1:
					r.Expire(now)
					continue
				case 2:
					r.RemovePhone(phone)
					continue
				case 3:
					r.Lookup(aor, now)
					continue
				case 4:
					r.All(func(Binding) bool { return true })
					continue
				}
				res, err := r.Update(aor, req, now)
				if err != nil && !errors.Is(err, ErrTooManyContacts) {
					t.Error(err)
					return
				}
				buf = res.Bindings
			}
		})
	}
	wg.Wait()
	checkInvariants(t, r)
	r.Expire(t0.Add(time.Hour))
	if a, b := r.Count(); a != 0 || b != 0 {
		t.Errorf("after expiring all: Count = %d, %d", a, b)
	}
	checkInvariants(t, r)
}

// First/LastForPhone are exact when one phone registers many lines at once.
func TestFirstLastForPhoneConcurrent(t *testing.T) {
	r := New(Config{})
	const lines = 64
	var first, last sync.WaitGroup
	var nFirst, nLast int
	var mu sync.Mutex
	for i := range lines {
		first.Go(func() {
			res, err := r.Update(fmt.Sprintf("sip:%d@v", i), reg("c", 1, contact(fmt.Sprintf("sip:%d@h", i), 600)), t0)
			if err != nil {
				t.Error(err)
			}
			if res.FirstForPhone {
				mu.Lock()
				nFirst++
				mu.Unlock()
			}
		})
	}
	first.Wait()
	if r.PhoneCount("201") != lines {
		t.Fatalf("PhoneCount = %d", r.PhoneCount("201"))
	}
	for i := range lines {
		last.Go(func() {
			res, err := r.Update(fmt.Sprintf("sip:%d@v", i), reg("c", 2, contact(fmt.Sprintf("sip:%d@h", i), 0)), t0)
			if err != nil {
				t.Error(err)
			}
			if res.LastForPhone {
				mu.Lock()
				nLast++
				mu.Unlock()
			}
		})
	}
	last.Wait()
	if nFirst != 1 || nLast != 1 {
		t.Errorf("FirstForPhone %d times, LastForPhone %d times; want 1 and 1", nFirst, nLast)
	}
}

func TestRefreshNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	r := New(Config{})
	req := reg("c1", 1, contact("sip:201@192.0.2.1:5060", 600))
	res, err := r.Update(aor, req, t0)
	if err != nil {
		t.Fatal(err)
	}
	req.Buf = res.Bindings
	allocs := testing.AllocsPerRun(100, func() {
		req.CSeq++
		res, err := r.Update(aor, req, t0)
		if err != nil {
			t.Fatal(err)
		}
		req.Buf = res.Bindings
	})
	if allocs != 0 {
		t.Errorf("a refresh allocates %v times, want 0", allocs)
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"min above max", Config{MinExpires: 2 * time.Hour}, false},
		{"default below min", Config{DefaultExpires: 30 * time.Second}, false},
		{"sub-second", Config{GuestExpires: time.Millisecond}, false},
		{"negative", Config{MaxExpires: -time.Second}, false},
		{"fine", Config{MinExpires: 30 * time.Second, MaxExpires: 7200 * time.Second, DefaultExpires: 600 * time.Second, GuestExpires: 45 * time.Second, MaxContactsPerAOR: -1}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
			r := New(tt.cfg) // never panics; corrects
			if r.minS > r.maxS || r.defS < r.minS || r.defS > r.maxS || r.guestS < 1 {
				t.Errorf("New corrected to min %d max %d default %d guest %d", r.minS, r.maxS, r.defS, r.guestS)
			}
		})
	}
	for _, tt := range []struct {
		err  error
		code int
	}{{nil, 200}, {ErrBadRequest, 400}, {ErrIntervalTooBrief, 423}, {ErrOutOfOrder, 500}, {ErrTooManyContacts, 403}, {fmt.Errorf("x: %w", ErrBadRequest), 400}, {errors.New("other"), 500}} {
		if got := StatusCode(tt.err); got != tt.code {
			t.Errorf("StatusCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}

// checkInvariants compares the shards, heaps, counters and phone index.
func checkInvariants(t *testing.T, r *Registrar) {
	t.Helper()
	phones := map[string]int{}
	phoneAORs := map[string]map[string]int{}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		n := 0
		if len(sh.heap) != len(sh.m) {
			t.Errorf("shard %d: heap %d records, map %d", i, len(sh.heap), len(sh.m))
		}
		for j, rec := range sh.heap {
			if rec.hidx != j {
				t.Errorf("shard %d: record at %d thinks it is at %d", i, j, rec.hidx)
			}
			if j > 0 && sh.heap[(j-1)/2].next > rec.next {
				t.Errorf("shard %d: heap order broken at %d", i, j)
			}
			if sh.m[rec.aor] != rec {
				t.Errorf("shard %d: heap record %q not in the map", i, rec.aor)
			}
		}
		for a, rec := range sh.m {
			if len(rec.entries) == 0 {
				t.Errorf("empty record %q kept", a)
			}
			next := int64(1<<63 - 1)
			for _, e := range rec.entries {
				next = min(next, e.expires)
				if e.phoneID != "" {
					phones[e.phoneID]++
					if phoneAORs[e.phoneID] == nil {
						phoneAORs[e.phoneID] = map[string]int{}
					}
					phoneAORs[e.phoneID][a]++
				}
			}
			if rec.next > next { // a refresh leaves the heap key earlier: Expire re-keys
				t.Errorf("record %q: next %d, after the earliest expiry %d", a, rec.next, next)
			}
			n += len(rec.entries)
		}
		if n != sh.bindings {
			t.Errorf("shard %d: counter %d, holds %d", i, sh.bindings, n)
		}
		sh.mu.Unlock()
	}
	indexed := map[string]int{}
	for i := range r.phones {
		ps := &r.phones[i]
		ps.mu.Lock()
		for p, pe := range ps.m {
			indexed[p] = int(pe.total)
			sum := 0
			for _, pa := range pe.aors {
				sum += int(pa.n)
				if phoneAORs[p][pa.aor] != int(pa.n) {
					t.Errorf("phone %q in %q: index %d, bindings %d", p, pa.aor, pa.n, phoneAORs[p][pa.aor])
				}
			}
			if sum != int(pe.total) {
				t.Errorf("phone %q: total %d, per AOR %d", p, pe.total, sum)
			}
		}
		ps.mu.Unlock()
	}
	if !maps.Equal(indexed, phones) {
		t.Errorf("phone index %v, bindings say %v", indexed, phones)
	}
}
