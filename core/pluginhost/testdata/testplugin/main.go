// Command testplugin is a rally plugin for the pluginhost tests. It writes
// one JSON line per thing it sees (configure, view snapshot and changes,
// events, registration answers) to the file named by "record" in its
// config, and can be told to misbehave.
//
// Config keys (JSON):
//
//	record       file to append lines to (required)
//	not_serving  report not serving in Health
//	exit_after   exit (status 3) this long after Configure ("2s")
//	invalid      reject the config (sdk.ErrInvalidConfig)
//	register     phone id to report as registered after Configure
//	register_as  "home" (default) or "guest"
//	get_record   key of a record to look up after Configure
//
// Info is asked before Configure, so what it claims comes from the
// environment: TESTPLUGIN_PROTOCOL (its protocol, "" by default) and
// TESTPLUGIN_API (the one API version it claims, default sdk.APIVersion).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

type config struct {
	Record     string `json:"record"`
	NotServing bool   `json:"not_serving"`
	// StartingFor: report starting (not serving, not failed) this long
	// after Configure, as a plugin loading its view does.
	StartingFor string `json:"starting_for"`
	ExitAfter   string `json:"exit_after"`
	Invalid     bool   `json:"invalid"`
	Register    string `json:"register"`
	RegisterAs  string `json:"register_as"`
	GetRecord   string `json:"get_record"`
}

type testPlugin struct {
	mu           sync.Mutex
	cfg          config
	configuredAt time.Time
	out          *os.File
}

// line is one recorded observation.
type line struct {
	Op      string `json:"op"`
	PID     int    `json:"pid"`
	API     uint32 `json:"api,omitempty"`
	Site    string `json:"site,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Peer    string `json:"peer,omitempty"`
	To      string `json:"to,omitempty"`
	Message string `json:"message,omitempty"`
	Phones  int    `json:"phones,omitempty"`
	Phone   string `json:"phone,omitempty"`
	OK      bool   `json:"ok,omitempty"`
}

func (p *testPlugin) record(l line) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		return
	}
	l.PID = os.Getpid()
	b, _ := json.Marshal(l)
	_, _ = p.out.Write(append(b, '\n'))
}

func (p *testPlugin) Info(context.Context) (sdk.Info, error) {
	info := sdk.Info{Name: "testplugin", Version: "0.0.1-test", Protocol: os.Getenv("TESTPLUGIN_PROTOCOL"),
		APIVersions: []uint32{sdk.APIVersion}}
	for _, k := range strings.Fields(os.Getenv("TESTPLUGIN_EVENTS")) {
		info.Events = append(info.Events, sdk.EventKind(k))
	}
	if v := os.Getenv("TESTPLUGIN_API"); v != "" {
		var n uint32
		fmt.Sscan(v, &n)
		info.APIVersions = []uint32{n}
	}
	return info, nil
}

func (p *testPlugin) Configure(ctx context.Context, c sdk.Config, host sdk.Host) ([]string, error) {
	var cfg config
	if err := json.Unmarshal(c.ConfigJSON, &cfg); err != nil {
		return nil, fmt.Errorf("%w: %v", sdk.ErrInvalidConfig, err)
	}
	if cfg.Invalid {
		return nil, fmt.Errorf("%w: invalid: told to refuse", sdk.ErrInvalidConfig)
	}
	f, err := os.OpenFile(cfg.Record, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: record: %v", sdk.ErrInvalidConfig, err)
	}
	p.mu.Lock()
	p.cfg, p.out, p.configuredAt = cfg, f, time.Now()
	p.mu.Unlock()
	sdk.Logger().Warn("testplugin configured", "site", c.Site)
	p.record(line{Op: "configure", API: c.APIVersion, Site: c.Site})

	// The watch outlives Configure: it runs for the life of the process.
	go p.watch(host)
	if cfg.Register != "" {
		outcome := sdk.RegHome
		if cfg.RegisterAs == "guest" {
			outcome = sdk.RegGuest
		}
		go func() {
			ok, reason, err := host.ReportRegistration(context.Background(), sdk.Registration{
				PhoneID: cfg.Register, Outcome: outcome, Contact: "sip:" + cfg.Register + "@127.0.0.1",
				Transport: "udp", Expires: time.Now().Add(time.Minute),
			})
			if err != nil {
				reason = err.Error()
			}
			p.record(line{Op: "registered", Phone: cfg.Register, OK: ok, Message: reason})
		}()
	}
	if cfg.GetRecord != "" {
		go func() {
			r, err := host.GetRecord(context.Background(), "", cfg.GetRecord)
			l := line{Op: "record", Phone: cfg.GetRecord, OK: err == nil}
			if err != nil {
				l.Message = err.Error()
			} else {
				l.Message = r.GetPhone().GetId()
			}
			p.record(l)
		}()
	}
	if cfg.ExitAfter != "" {
		d, err := time.ParseDuration(cfg.ExitAfter)
		if err != nil {
			return nil, fmt.Errorf("%w: exit_after: %v", sdk.ErrInvalidConfig, err)
		}
		time.AfterFunc(d, func() { os.Exit(3) })
	}
	return []string{"test:udp://127.0.0.1:0"}, nil
}

func (p *testPlugin) watch(host sdk.Host) {
	ch, err := host.WatchView(context.Background())
	if err != nil {
		p.record(line{Op: "watch_error", Message: err.Error()})
		return
	}
	for u := range ch {
		switch {
		case u.Snapshot != nil:
			p.record(line{Op: "snapshot", Site: u.Snapshot.Site, Phones: len(u.Snapshot.Phones)})
		case u.Change != nil && u.Change.PutPhone != nil:
			p.record(line{Op: "put_phone", Phone: u.Change.PutPhone.ID})
		case u.Change != nil && u.Change.RemovePhone != "":
			p.record(line{Op: "remove_phone", Phone: u.Change.RemovePhone})
		case u.Change != nil && u.Change.PutPeer != nil:
			p.record(line{Op: "put_peer", Peer: u.Change.PutPeer.Site, To: u.Change.PutPeer.State})
		case u.Err != nil:
			p.record(line{Op: "watch_error", Message: u.Err.Error()})
		}
	}
}

func (p *testPlugin) HandleEvent(_ context.Context, e sdk.Event) error {
	p.record(line{Op: "event", Kind: string(e.Kind), Peer: e.Peer, To: e.To, Phone: e.PhoneID, Message: e.Message})
	return nil
}

func (p *testPlugin) Health(context.Context) (sdk.Health, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.NotServing {
		return sdk.Health{Serving: false, Message: "told not to serve"}, nil
	}
	if d, err := time.ParseDuration(p.cfg.StartingFor); err == nil && time.Since(p.configuredAt) < d {
		return sdk.Health{Starting: true, Message: "told to start slowly"}, nil
	}
	return sdk.Health{Serving: true}, nil
}

func main() { sdk.Serve(&testPlugin{}) }
