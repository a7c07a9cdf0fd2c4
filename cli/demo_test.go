package cli

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `rally demo` end to end and checks the steps it prints:
// SIP and H.323 phones at home, refused at the backup, guests after kill
// -9, and sent home (the H.323 one by URQ).
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, rallyBinary(t), "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("rally demo: %v\n%s", err, out)
	}
	t.Logf("rally demo took %v", time.Since(start))
	for _, want := range []string{
		"Alice's desk phone -> paris: 503",
		"Carol's H.323 phone -> london: RCF (endpoint 203@london",
		"Carol's H.323 phone (a stray RRQ) -> paris: RRJ resourceUnavailable, alternate gatekeeper london",
		"-> paris: RCF (endpoint 203@paris, time to live 60s, alternate gatekeeper london",
		"paris -> Carol's H.323 phone: URQ, alternate gatekeeper london",
		"london: phone 203 (user 203, h323 desk, 203,carol) registered here as home",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
