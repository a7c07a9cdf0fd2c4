package ras

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestErlang compares the codec with Erlang's asn1 compiler, an independent
// aligned PER implementation: testdata/H225-RAS.asn (the cut-down module)
// is compiled with erlc -bper, and testdata/values.escript encodes the test
// values, written again in Erlang. Both sides must produce the same bytes;
// Go must decode Erlang's bytes to its own value, and Erlang Go's bytes to
// its own.
func TestErlang(t *testing.T) {
	erlc := requireTool(t, "erlc", "erlang-base erlang-asn1")
	escript := requireTool(t, "escript", "erlang-base")
	dir := t.TempDir()
	for _, f := range []string{"H225-RAS.asn", "values.escript"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %v: %v\n%s%s", name, args, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	// -bper: aligned PER. (+per is taken as a compiler option and silently
	// yields BER.) The escript refuses to run on a module of another rule.
	run(erlc, "-bper", "+noobj", "H225-RAS.asn")
	if _, err := os.Stat(filepath.Join(dir, "H225-RAS.erl")); err != nil {
		t.Fatalf("erlc -bper made no H225-RAS.erl (is erlang-asn1 installed? apt-get install -y erlang-asn1): %v", err)
	}
	run(erlc, "H225-RAS.erl")

	msgs := testMessages()
	goBytes := map[string][]byte{}
	var goFile strings.Builder
	for _, tc := range msgs {
		b, err := Marshal(tc.msg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		goBytes[tc.name] = b
		fmt.Fprintf(&goFile, "%s %x\n", tc.name, b)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.txt"), []byte(goFile.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(escript, "values.escript", "go.txt")

	erlEnc := map[string]string{}
	erlDec := map[string]string{}
	rule := ""
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, " ", 3)
		switch {
		case len(f) == 2 && f[0] == "rule":
			rule = f[1]
		case len(f) == 3 && f[0] == "enc":
			erlEnc[f[1]] = f[2]
		case len(f) == 3 && f[0] == "dec":
			erlDec[f[1]] = f[2]
		default:
			t.Fatalf("escript printed %q", line)
		}
	}
	if rule != "per" {
		t.Fatalf("the Erlang module was compiled for %q, not aligned PER", rule)
	}
	if len(erlEnc) != len(msgs) {
		t.Errorf("Erlang has %d values, Go %d", len(erlEnc), len(msgs))
	}
	for _, tc := range msgs {
		t.Run(tc.name, func(t *testing.T) {
			eh, ok := erlEnc[tc.name]
			if !ok {
				t.Fatalf("values.escript has no value %q", tc.name)
			}
			eb, err := hex.DecodeString(eh)
			if err != nil {
				t.Fatalf("Erlang could not encode: %s", eh)
			}
			if !bytes.Equal(eb, goBytes[tc.name]) {
				t.Errorf("bytes differ\n   Go %x\nErlang %x", goBytes[tc.name], eb)
			}
			m, err := Unmarshal(eb)
			if err != nil {
				t.Fatalf("Go cannot decode Erlang's bytes: %v", err)
			}
			if !reflect.DeepEqual(m, tc.msg) {
				t.Errorf("Go decodes Erlang's bytes to\n%#v\nwant %#v", m, tc.msg)
			}
			if erlDec[tc.name] != "ok" {
				t.Errorf("Erlang decoding Go's bytes: %s", erlDec[tc.name])
			}
		})
	}
}
