package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func testFlags() *globalFlags {
	return &globalFlags{now: func() time.Time { return fixedNow }, loc: time.UTC}
}

func TestPrinters(t *testing.T) {
	events := func(p printer) error {
		for _, e := range fixtureEvents() {
			if err := p.event(e); err != nil {
				return err
			}
		}
		return nil
	}
	tests := []struct {
		name   string
		golden string
		json   bool
		lines  bool
		print  func(printer) error
	}{
		{name: "status json", golden: "status.json", json: true,
			print: func(p printer) error { return p.status(fixtureStatus()) }},
		{name: "status table", golden: "status.txt",
			print: func(p printer) error { return p.status(fixtureStatus()) }},
		{name: "status empty json", golden: "status_empty.json", json: true,
			print: func(p printer) error { return p.status(&adminv1.GetStatusResponse{}) }},
		{name: "status empty table", golden: "status_empty.txt",
			print: func(p printer) error { return p.status(&adminv1.GetStatusResponse{}) }},
		{name: "phones json", golden: "phones.json", json: true,
			print: func(p printer) error { return p.phones(fixturePhones()) }},
		{name: "phones table", golden: "phones.txt",
			print: func(p printer) error { return p.phones(fixturePhones()) }},
		{name: "phones empty json", golden: "phones_empty.json", json: true,
			print: func(p printer) error { return p.phones(&adminv1.ListPhonesResponse{}) }},
		{name: "check json", golden: "check.json", json: true,
			print: func(p printer) error { return p.check(fixtureCheck(false)) }},
		{name: "check ok json", golden: "check_ok.json", json: true,
			print: func(p printer) error { return p.check(fixtureCheck(true)) }},
		{name: "check table", golden: "check.txt",
			print: func(p printer) error { return p.check(fixtureCheck(false)) }},
		{name: "plugins json", golden: "plugins.json", json: true,
			print: func(p printer) error { return p.plugins(fixturePlugins()) }},
		{name: "plugins table", golden: "plugins.txt",
			print: func(p printer) error { return p.plugins(fixturePlugins()) }},
		{name: "plugins empty json", golden: "plugins_empty.json", json: true,
			print: func(p printer) error { return p.plugins(&adminv1.ListPluginsResponse{}) }},
		{name: "events jsonl", golden: "events.jsonl", json: true, lines: true, print: events},
		{name: "events table", golden: "events.txt", print: events},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.print(testFlags().newPrinter(&buf, tt.json, tt.lines)); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, buf.Bytes())
		})
	}
}

// TestJSONContract checks the documented invariants on the decoded JSON,
// independently of the golden files' formatting.
func TestJSONContract(t *testing.T) {
	var buf bytes.Buffer
	p := testFlags().newPrinter(&buf, true, true)
	if err := p.status(fixtureStatus()); err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(buf.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st["schema_version"] != float64(1) {
		t.Errorf("schema_version = %v, want 1", st["schema_version"])
	}
	peers, _ := st["peers"].([]any)
	if len(peers) != 3 {
		t.Fatalf("peers = %v", st["peers"])
	}
	paris := peers[0].(map[string]any)
	for key, want := range map[string]any{
		"site": "paris", "state": "normal", "relation": "both", "resilience": "inactive",
		"heartbeat_age_ms": float64(12), "last_heard": "2026-03-01T09:59:59.988Z",
		"held_revision": float64(40), "peer_revision": float64(40),
	} {
		if paris[key] != want {
			t.Errorf("peers[0].%s = %#v, want %#v", key, paris[key], want)
		}
	}
	madrid := peers[2].(map[string]any)
	if v, ok := madrid["heartbeat_age_ms"]; !ok || v != nil {
		t.Errorf("never-heard peer: heartbeat_age_ms = %#v (present %v), want null", v, ok)
	}
	if w, ok := madrid["warnings"].([]any); !ok || len(w) != 0 {
		t.Errorf("warnings = %#v, want []", madrid["warnings"])
	}
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			t.Error("empty line in JSON Lines output")
		}
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
		t.Errorf("lines mode wrote %d lines, want 1", n)
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{name: "ms", d: 12 * time.Millisecond, want: "12ms"},
		{name: "seconds", d: 3250 * time.Millisecond, want: "3.2s"},
		{name: "tens of seconds", d: 45200 * time.Millisecond, want: "45s"},
		{name: "minutes", d: 4*time.Minute + 5*time.Second, want: "4m5s"},
		{name: "minutes ending in 0", d: 4*time.Minute + 10*time.Second, want: "4m10s"},
		{name: "whole minutes", d: 4 * time.Minute, want: "4m"},
		{name: "hours", d: 26*time.Hour + 3*time.Minute + 10*time.Second, want: "26h3m"},
		{name: "negative", d: -time.Second, want: "0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shortDuration(tt.d); got != tt.want {
				t.Errorf("shortDuration(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}
