// Package sipptest drives SIPp (the sip-tester package) from Go tests: it
// holds UAC scenarios for a registrar (scenarios/*.xml, embedded) and a
// runner that writes a scenario and its injection file into a directory,
// runs sipp in the foreground and reads back what happened.
//
// It is test support: other packages' tests import it. It does not import
// rally's core and knows nothing of rally; anything that answers SIP on
// host:port can be its target.
//
// Scenarios (one SIPp "call" each; field0 = user = phone id = extension,
// field1 = password):
//
//	register                     REGISTER → 401/407 → REGISTER+digest → 200
//	register-refused             REGISTER → 503 with Retry-After: N
//	register-refused-after-auth  REGISTER → 401/407 → REGISTER+digest → 503 with Retry-After: N
//	register-wrong-password      REGISTER → 401/407 → REGISTER+digest(wrong password) → 403
//	register-stale               register, pause stale_wait_ms, REGISTER+digest(old nonce)
//	                             → 401 stale=true → REGISTER+digest(new nonce) → 200
//	unregister                   as register, Expires: 0, same Contact as register
//	unregister-all               as register, Expires: 0, Contact: *
//	options                      OPTIONS → 200 (no injection file needed)
//	call                         a call through a proxy: INVITE → 407 → ACK → INVITE+digest
//	                             → 200 → ACK (route set) → pause (-d ms) → BYE → 200;
//	                             register first on the same port (LocalPort)
//	uas                          a callee (no injection file needed): INVITE → 180, 200 → ACK
//	                             → BYE → 200; register first on the same port (LocalPort)
//
// Keys (-key; Run fills the defaults): expires (3600), domain (the host of
// Run.Server; the host part of From/To), user_agent ("rally-sipptest"),
// callee (the extension call calls),
// stale_wait_ms (2000).
package sipptest

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed scenarios/*.xml
var scenarioFS embed.FS

// Scenarios lists the embedded scenario names (without ".xml").
func Scenarios() []string {
	ents, _ := fs.ReadDir(scenarioFS, "scenarios")
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".xml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Scenario returns the XML of an embedded scenario, by name with or without
// ".xml".
func Scenario(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".xml")
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("sipptest: bad scenario name %q", name)
	}
	b, err := scenarioFS.ReadFile("scenarios/" + name + ".xml")
	if err != nil {
		return nil, fmt.Errorf("sipptest: no scenario %q (have %s)", name, strings.Join(Scenarios(), ", "))
	}
	return b, nil
}

// defaultKeys are the -key values Exec passes unless Run.Keys overrides
// them; "domain" defaults to the host of Run.Server.
var defaultKeys = map[string]string{
	"expires":       "3600",
	"user_agent":    "rally-sipptest",
	"stale_wait_ms": "2000",
	"callee":        "callee",
}

// Run is one sipp invocation.
type Run struct {
	Scenario  string        // name in scenarios/ (with or without ".xml")
	Server    string        // host:port of the system under test
	Transport string        // "u1" (UDP, default) or "t1" (one TCP connection)
	Users     [][2]string   // injection file rows: user (= phone id = extension), password
	Calls     int           // -m: calls to run; 0 = len(Users), or 1 without users
	Rate      int           // -r: new calls per second; 0 = 100
	Timeout   time.Duration // -timeout with -timeout_error: whole run; 0 = 30 s
	LocalIP   string        // -i: 127.0.0.x; "" = 127.0.0.1
	LocalPort int           // -p: 0 = a free port below 32768, picked here
	Keys      map[string]string

	// Optional.
	Limit       int           // -l: calls in flight at once; 0 = Calls
	RecvTimeout time.Duration // -recv_timeout: a call waiting longer for an answer fails; 0 = SIPp's retransmission limits only
	Args        []string      // extra sipp arguments, appended last
}

// Result is what sipp reported.
type Result struct {
	Successful int  // calls that reached the end of the scenario
	Failed     int  // calls that failed (unexpected answer, failed check, retransmission or recv timeout)
	Unfinished int  // calls still in flight when sipp stopped (global timeout or context cancelled)
	ExitCode   int  // 0 all calls succeeded, 1 some failed, 255 fatal (e.g. global timeout); see SIPp's docs
	TimedOut   bool // the global -timeout fired

	LocalPort int    // the local port sipp used (-p)
	Messages  string // -trace_msg: every message sent and received
	Log       string // -trace_logs: the scenarios' <log> lines, e.g. "retry_after=2 user=1001 call=1"
	Errors    string // -trace_err: unexpected messages, failed checks, warnings
	Output    string // sipp's stdout and stderr (its final screen)
}

// String summarises a result for test failure messages.
func (r Result) String() string {
	return fmt.Sprintf("sipp: successful=%d failed=%d unfinished=%d exit=%d timed_out=%v", r.Successful, r.Failed, r.Unfinished, r.ExitCode, r.TimedOut)
}

// OK reports whether every one of n calls succeeded.
func (r Result) OK(n int) bool {
	return r.ExitCode == 0 && r.Successful == n && r.Failed == 0 && r.Unfinished == 0
}

// exitBindError is SIPp's exit status when it cannot bind its socket (-2).
const exitBindError = 254

// File names Exec writes into its directory.
const (
	UsersFile    = "users.csv"
	StatFile     = "stat.csv"
	MessagesFile = "messages.log"
	ErrorsFile   = "errors.log"
	LogFile      = "log.log"
	ScreenFile   = "screen.log"
	OutputFile   = "sipp.out"
)

// Path returns the path of sipp, or an error saying how to install it.
func Path() (string, error) {
	p, err := exec.LookPath("sipp")
	if err != nil {
		return "", errors.New("sipptest: sipp not found in PATH (apt-get install sip-tester)")
	}
	return p, nil
}

// Exec writes the scenario and the injection file into dir (which must
// exist, e.g. t.TempDir()), runs sipp there in the foreground and parses the
// outcome. A non-zero exit is not an error: it is in Result. The error is
// for sipp missing, bad arguments, sipp unable to start the scenario (bad
// scenario, unknown key, port in use after retries) or ctx ending (then the
// partial Result is returned too).
func (r Run) Exec(ctx context.Context, dir string) (Result, error) {
	sipp, err := Path()
	if err != nil {
		return Result{}, err
	}
	xml, err := Scenario(r.Scenario)
	if err != nil {
		return Result{}, err
	}
	host, _, err := net.SplitHostPort(r.Server)
	if err != nil {
		return Result{}, fmt.Errorf("sipptest: Server %q: %w", r.Server, err)
	}
	transport := r.Transport
	switch transport {
	case "":
		transport = "u1"
	case "u1", "t1":
	default:
		return Result{}, fmt.Errorf("sipptest: Transport %q: want u1 or t1", transport)
	}
	localIP := r.LocalIP
	if localIP == "" {
		localIP = "127.0.0.1"
	}
	if ip := net.ParseIP(localIP); ip == nil {
		return Result{}, fmt.Errorf("sipptest: LocalIP %q is not an IP address", localIP)
	}
	calls := r.Calls
	if calls <= 0 {
		calls = max(len(r.Users), 1)
	}
	rate := r.Rate
	if rate <= 0 {
		rate = 100
	}
	limit := r.Limit
	if limit <= 0 {
		limit = calls
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}

	name := strings.TrimSuffix(r.Scenario, ".xml")
	sf := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(sf, xml, 0o644); err != nil {
		return Result{}, fmt.Errorf("sipptest: %w", err)
	}
	var inf string
	if len(r.Users) > 0 {
		var b strings.Builder
		b.WriteString("SEQUENTIAL\n")
		for i, u := range r.Users {
			for _, f := range u {
				if strings.ContainsAny(f, ";\r\n") {
					return Result{}, fmt.Errorf("sipptest: Users[%d]: %q holds ';' or a line break, which SIPp's CSV cannot carry", i, f)
				}
			}
			if u[0] == "" {
				return Result{}, fmt.Errorf("sipptest: Users[%d]: empty user", i)
			}
			b.WriteString(u[0] + ";" + u[1] + "\n")
		}
		inf = filepath.Join(dir, UsersFile)
		if err := os.WriteFile(inf, []byte(b.String()), 0o644); err != nil {
			return Result{}, fmt.Errorf("sipptest: %w", err)
		}
	}

	keys := map[string]string{"domain": host}
	for k, v := range defaultKeys {
		keys[k] = v
	}
	for k, v := range r.Keys {
		keys[k] = v
	}
	keyNames := make([]string, 0, len(keys))
	for k := range keys {
		keyNames = append(keyNames, k)
	}
	sort.Strings(keyNames)

	args := func(port int) []string {
		a := []string{r.Server, "-sf", sf}
		if inf != "" {
			a = append(a, "-inf", inf)
		}
		a = append(a,
			"-t", transport,
			"-i", localIP, "-p", strconv.Itoa(port),
			"-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", strconv.Itoa(limit),
			"-timeout", strconv.FormatInt(max(timeout.Milliseconds(), 1), 10)+"ms", "-timeout_error",
			"-nostdin",
			// A failed call is only counted: no BYE for REGISTER or
			// OPTIONS "calls" that SIPp aborts on an unexpected answer.
			"-default_behaviors", "all,-bye",
			"-trace_stat", "-stf", filepath.Join(dir, StatFile), "-fd", "1",
			"-trace_err", "-error_file", filepath.Join(dir, ErrorsFile),
			"-trace_msg", "-message_file", filepath.Join(dir, MessagesFile),
			"-trace_logs", "-log_file", filepath.Join(dir, LogFile),
			"-trace_screen", "-screen_file", filepath.Join(dir, ScreenFile),
		)
		if r.RecvTimeout > 0 {
			a = append(a, "-recv_timeout", strconv.FormatInt(max(r.RecvTimeout.Milliseconds(), 1), 10))
		}
		for _, k := range keyNames {
			a = append(a, "-key", k, keys[k])
		}
		return append(a, r.Args...)
	}

	// A port picked here may be taken before sipp binds it; sipp then exits
	// with -2 (254) and we try another.
	tries := 1
	if r.LocalPort == 0 {
		tries = 5
	}
	for try := 1; ; try++ {
		port := r.LocalPort
		if port == 0 {
			if port, err = FreePort(localIP); err != nil {
				return Result{}, err
			}
		}
		res, bindErr, err := r.execOnce(ctx, sipp, dir, args(port))
		res.LocalPort = port
		if bindErr && try < tries && ctx.Err() == nil {
			continue
		}
		return res, err
	}
}

func (r Run) execOnce(ctx context.Context, sipp, dir string, args []string) (res Result, bindErr bool, err error) {
	for _, f := range []string{StatFile, MessagesFile, ErrorsFile, LogFile, ScreenFile, OutputFile} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	out, err := os.Create(filepath.Join(dir, OutputFile))
	if err != nil {
		return res, false, fmt.Errorf("sipptest: %w", err)
	}
	defer out.Close()
	fmt.Fprintf(out, "# %s %s\n", sipp, shellJoin(args))

	cmd := exec.Command(sipp, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return res, false, fmt.Errorf("sipptest: start sipp: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	cancelled := false
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		cancelled = true
		// SIGUSR1: no new calls, those in flight may finish; then
		// SIGTERM (sipp exits at once, writing its statistics); then kill.
		_ = cmd.Process.Signal(syscall.SIGUSR1)
		select {
		case waitErr = <-done:
		case <-time.After(time.Second):
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case waitErr = <-done:
			case <-time.After(2 * time.Second):
				_ = cmd.Process.Kill()
				waitErr = <-done
			}
		}
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return res, false, fmt.Errorf("sipptest: sipp: %w", waitErr)
	}
	res.ExitCode = cmd.ProcessState.ExitCode()

	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		return string(b)
	}
	res.Messages = read(MessagesFile)
	res.Log = read(LogFile)
	res.Errors = read(ErrorsFile)
	res.Output = read(OutputFile)
	res.TimedOut = strings.Contains(res.Errors, " timed out after '") || strings.Contains(res.Output, " timed out after '")

	ran, perr := parseStats(filepath.Join(dir, StatFile), &res)
	if cancelled {
		return res, false, fmt.Errorf("sipptest: %w (%s)", ctx.Err(), res)
	}
	if res.ExitCode == exitBindError || !ran {
		// sipp never started the scenario: bad argument, scenario or
		// key, unreadable injection file, or a port in use.
		why := lastLines(res.Output, 6)
		if perr != nil {
			why = perr.Error() + "\n" + why
		}
		return res, res.ExitCode == exitBindError, fmt.Errorf("sipptest: sipp could not run %s (exit %d):\n%s", r.Scenario, res.ExitCode, why)
	}
	return res, false, nil
}

// parseStats reads the last row of sipp's -trace_stat file; ran is false
// when there is no data row (sipp never got to run calls).
func parseStats(path string, res *Result) (ran bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var header, last []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if header == nil {
			header = strings.Split(line, ";")
			continue
		}
		last = strings.Split(line, ";")
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("sipptest: read %s: %w", path, err)
	}
	if last == nil {
		return false, nil
	}
	get := func(col string) (int, error) {
		for i, h := range header {
			if h == col && i < len(last) {
				return strconv.Atoi(strings.TrimSpace(last[i]))
			}
		}
		return 0, fmt.Errorf("sipptest: %s has no column %s", path, col)
	}
	if res.Successful, err = get("SuccessfulCall(C)"); err != nil {
		return false, err
	}
	if res.Failed, err = get("FailedCall(C)"); err != nil {
		return false, err
	}
	if res.Unfinished, err = get("CurrentCall"); err != nil {
		return false, err
	}
	return true, nil
}

// handedOut remembers the ports FreePort returned lately, so that parallel
// tests in one process are not given the same port before sipp binds it.
var handedOut = struct {
	sync.Mutex
	at map[string]time.Time
}{at: map[string]time.Time{}}

// FreePort returns a port below 32768 (under Linux's ephemeral range, so
// outgoing connections do not take it meanwhile) on which ip has nothing
// bound for UDP nor TCP, and which it did not return in the last minute.
// It is free when checked, not reserved.
func FreePort(ip string) (int, error) {
	const lo, hi = 20000, 32768
	handedOut.Lock()
	defer handedOut.Unlock()
	now := time.Now()
	for k, at := range handedOut.at {
		if now.Sub(at) > time.Minute {
			delete(handedOut.at, k)
		}
	}
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		if _, seen := handedOut.at[addr]; seen {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		t, err := net.Listen("tcp", addr)
		u.Close()
		if err != nil {
			continue
		}
		t.Close()
		handedOut.at[addr] = now
		return port, nil
	}
	return 0, fmt.Errorf("sipptest: no free port on %s in [%d, %d)", ip, lo, hi)
}

// MessagesReceived splits a -trace_msg log into the messages sipp received
// (requests or responses, start line first), in order.
func MessagesReceived(log string) []string { return splitMessages(log, " message received [") }

// MessagesSent splits a -trace_msg log into the messages sipp sent.
func MessagesSent(log string) []string { return splitMessages(log, " message sent (") }

// splitMessages cuts a -trace_msg log, whose entries look like
//
//	----------------------------------------------- 2026-11-25 13:52:33.154144
//	UDP message received [412] bytes :
//	<blank line>
//	SIP/2.0 401 Unauthorized
//	...
//
// into the SIP messages of the entries whose second line holds kind.
func splitMessages(log, kind string) []string {
	const sep = "-----------------------------------------------"
	var out []string
	for _, e := range strings.Split("\n"+log, "\n"+sep) {
		_, rest, ok := strings.Cut(e, "\n") // the separator's timestamp
		if !ok {
			continue
		}
		head, msg, ok := strings.Cut(rest, "\n")
		if !ok || !strings.Contains(head, kind) {
			continue
		}
		if msg = strings.TrimSpace(msg); msg != "" {
			out = append(out, msg)
		}
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func shellJoin(args []string) string {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?[]()") {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
