package ras

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/metrics"
	"testing"
)

// decodeAllocLimit bounds what decoding b may allocate: the decoder checks
// every length against the input, so allocation grows with len(b) only.
func decodeAllocLimit(b []byte) uint64 { return 64<<10 + 512*uint64(len(b)) }

// heapAllocs reads the bytes allocated so far without stopping the world.
// The runtime counts small objects a span at a time, so a reading may run
// ahead by a few spans: the fuzz target allows for that.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzDecode feeds arbitrary bytes to Unmarshal: it must never panic nor
// allocate beyond decodeAllocLimit, and whatever it accepts must encode
// again and decode to the same value. The corpus in
// testdata/fuzz/FuzzDecode is the round-trip encodings (TestFuzzCorpus).
func FuzzDecode(f *testing.F) {
	for _, tc := range testMessages() {
		b, err := Marshal(tc.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		before := heapAllocs()
		m, err := Unmarshal(b)
		if n := heapAllocs() - before; n > 1<<20+decodeAllocLimit(b) {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(b), n)
		}
		if err != nil {
			return
		}
		b2, err := Marshal(m)
		if err != nil {
			t.Fatalf("decoded %#v from %x, cannot encode it: %v", m, b, err)
		}
		m2, err := Unmarshal(b2)
		if err != nil {
			t.Fatalf("cannot decode the re-encoding %x of %x: %v", b2, b, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding changes the value\n%#v\n%#v", m, m2)
		}
	})
}

// TestFuzzCorpus checks that testdata/fuzz/FuzzDecode holds the encoding of
// every test value; RAS_UPDATE_CORPUS=1 writes it.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	update := os.Getenv("RAS_UPDATE_CORPUS") == "1"
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range testMessages() {
		b, err := Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		path := filepath.Join(dir, "seed-"+tc.name)
		if update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale; run RAS_UPDATE_CORPUS=1 go test -run TestFuzzCorpus ./plugins/h323/ras", path)
		}
	}
}
