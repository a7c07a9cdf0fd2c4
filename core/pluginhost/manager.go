// Package pluginhost launches and supervises a site's plugin processes over
// hashicorp/go-plugin (gRPC, automatic mutual TLS), as DESIGN §2 asks:
//
//   - Built-in plugins are the rally binary itself, re-executed with the
//     arguments that make it serve one first-party plugin (as Nomad does).
//   - External plugins are executables installed into the plugin directory
//     with Install: each is pinned by SHA-256 in PluginDir/pins.json and
//     verified at every launch (go-plugin's SecureConfig); a binary that
//     no longer matches its pin refuses to start and is reported failed.
//   - After each launch the host checks the plugin's info (it must speak
//     sdk.APIVersion) and configures it with its config section and the
//     host service (the Backend, seen by the plugin as sdk.Host). It polls
//     the plugin's health every second; a plugin whose process exits, or
//     whose calls fail as shut down, is restarted with backoff (200 ms
//     doubling to 10 s, back to 200 ms after 30 s of health) and configured
//     again, which resyncs its view.
//   - Site events are delivered to every running plugin in order, through
//     one bounded queue per plugin; a plugin that does not keep up loses
//     events (counted and logged) rather than slowing the site.
//
// Plugin logs (hclog JSON on the plugin's stderr) join the host's slog
// logger with their levels kept.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Errors of this package. They are returned wrapped; test with errors.Is.
var (
	// ErrNotFound: no plugin of that name.
	ErrNotFound = errors.New("pluginhost: no such plugin")
	// ErrExists: a plugin of that name is installed or built in.
	ErrExists = errors.New("pluginhost: plugin exists")
	// ErrInvalid: a bad name or a file that cannot be installed.
	ErrInvalid = errors.New("pluginhost: invalid plugin")
	// ErrBuiltin: the plugin is built into the rally binary and cannot be
	// removed (remove its section under plugins: instead).
	ErrBuiltin = errors.New("pluginhost: plugin is built in")
	// ErrStart: an installed plugin did not start; it was not kept.
	ErrStart = errors.New("pluginhost: plugin did not start")
)

// Origins of a plugin, as PluginStatus.origin says.
const (
	OriginBuiltin  = "builtin"
	OriginExternal = "external"
)

// Health values of PluginStatus.health.
const (
	HealthStarting   = "starting"
	HealthServing    = "serving"
	HealthNotServing = "not_serving"
	HealthRestarting = "restarting"
	HealthFailed     = "failed"
)

// Supervision timings (DESIGN §2: a crashed plugin is restarted with
// backoff). Config fields override them (tests).
const (
	DefaultHealthEvery  = time.Second
	DefaultMinBackoff   = 200 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
	DefaultHealthyReset = 30 * time.Second
	// DefaultEventQueue is the number of events queued per plugin.
	DefaultEventQueue = 256

	exitPoll      = 100 * time.Millisecond // how often a process exit is looked for
	callTimeout   = 30 * time.Second       // Info, Configure
	healthTimeout = 2 * time.Second
	eventTimeout  = 5 * time.Second
	// healthFailures is how many health calls in a row may fail (time
	// out) before a plugin is taken as hung and restarted.
	healthFailures = 3
	// installWait bounds how long Install waits for the first launch.
	installWait = time.Minute
)

// Config configures a Manager.
type Config struct {
	// Site and SIPDomain are handed to every plugin in Configure.
	Site, SIPDomain string
	// PluginDir holds external plugins and pins.json.
	PluginDir string
	// TLSCertPEM, TLSKeyPEM and CACertPEM are the site's identity, for
	// plugins that serve TLS.
	TLSCertPEM, TLSKeyPEM, CACertPEM []byte
	Logger                           *slog.Logger
	// Backend serves the host service to the plugins.
	Backend Backend
	// PluginConfig returns a plugin's config section as JSON, and whether
	// the site config has one. Nil: no plugin has a section.
	PluginConfig func(name string) ([]byte, bool)
	// Builtins maps the name of each built-in plugin to the arguments
	// that make Executable serve it (such as ["plugin-serve", "sip"]).
	Builtins map[string][]string
	// Executable is the binary built-in plugins run; default
	// os.Executable().
	Executable string

	// Zero values take the Default* constants.
	HealthEvery, MinBackoff, MaxBackoff, HealthyReset time.Duration
	EventQueue                                        int
}

// Manager launches and supervises the plugins of one site. Its methods
// are safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	// opMu serialises Install and Remove (pins.json is read-modify-write).
	opMu sync.Mutex

	mu      sync.Mutex
	plugins map[string]*plugin
	pins    map[string]pin
	pinsErr error
	// ctx is Serve's context while it runs; nil before and after.
	ctx     context.Context
	wg      sync.WaitGroup
	stopped bool
}

// New returns a manager; it reads the pins but starts nothing (Serve does).
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HealthEvery, DefaultHealthEvery)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.HealthyReset, DefaultHealthyReset)
	if cfg.EventQueue <= 0 {
		cfg.EventQueue = DefaultEventQueue
	}
	if cfg.PluginConfig == nil {
		cfg.PluginConfig = func(string) ([]byte, bool) { return nil, false }
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, plugins: make(map[string]*plugin)}
	for name, args := range cfg.Builtins {
		m.plugins[name] = m.newPlugin(name, OriginBuiltin, "", slices.Clone(args), "")
	}
	if cfg.PluginDir != "" {
		m.pins, m.pinsErr = loadPins(cfg.PluginDir)
	} else {
		m.pins = map[string]pin{}
	}
	if m.pinsErr != nil {
		m.log.Error("plugin pins unreadable: no external plugin is started", "error", m.pinsErr)
		m.pins = map[string]pin{}
	}
	for name, pn := range m.pins {
		if _, ok := m.plugins[name]; ok {
			m.log.Warn("installed plugin has the name of a built-in plugin: not started", "plugin", name)
			continue
		}
		m.plugins[name] = m.newPlugin(name, OriginExternal, filepath.Join(cfg.PluginDir, pn.File), nil, pn.SHA256)
	}
	return m
}

// Serve starts every plugin and supervises them until ctx ends, then stops
// them all and returns nil once every process and goroutine has ended.
func (m *Manager) Serve(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil || m.stopped {
		m.mu.Unlock()
		return errors.New("pluginhost: Serve called twice")
	}
	m.ctx = ctx
	for _, p := range m.plugins {
		m.startLocked(p)
	}
	m.mu.Unlock()

	<-ctx.Done()

	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// startLocked starts p's supervisor under Serve's context; m.mu is held.
func (m *Manager) startLocked(p *plugin) {
	if m.ctx == nil || m.stopped {
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	p.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		m.supervise(ctx, p)
	}()
}

// Install copies the executable at path into the plugin directory as name
// (the file's base name when name is ""), pins its SHA-256 and starts it.
// When the manager is serving, it waits for the first launch: a plugin
// that does not start is removed again and the error (wrapping ErrStart)
// says why. A name already in use is refused with ErrExists.
func (m *Manager) Install(ctx context.Context, path, name string) (*adminv1.PluginStatus, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: a path is required", ErrInvalid)
	}
	if name == "" {
		name = filepath.Base(path)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if m.cfg.PluginDir == "" {
		return nil, fmt.Errorf("%w: no plugin directory configured", ErrInvalid)
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()

	m.mu.Lock()
	if m.pinsErr != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("pluginhost: install %s: pins unreadable, fix or remove them first: %w", name, m.pinsErr)
	}
	if p, ok := m.plugins[name]; ok {
		m.mu.Unlock()
		if p.origin == OriginBuiltin {
			return nil, fmt.Errorf("%w: %s is a built-in plugin", ErrExists, name)
		}
		return nil, fmt.Errorf("%w: %s is installed (remove it first)", ErrExists, name)
	}
	m.mu.Unlock()

	if err := os.MkdirAll(m.cfg.PluginDir, 0o755); err != nil {
		return nil, fmt.Errorf("pluginhost: install %s: %w", name, err)
	}
	dst := filepath.Join(m.cfg.PluginDir, name)
	sum, err := installFile(path, dst)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalid) {
			return nil, fmt.Errorf("%w: install %s: %w", ErrInvalid, name, err)
		}
		return nil, fmt.Errorf("pluginhost: install %s: %w", name, err)
	}
	pins := m.pinsCopy()
	pins[name] = pin{File: name, SHA256: sum, Installed: time.Now().UTC().Truncate(time.Second)}
	if err := savePins(m.cfg.PluginDir, pins); err != nil {
		_ = os.Remove(dst)
		return nil, fmt.Errorf("pluginhost: install %s: %w", name, err)
	}
	p := m.newPlugin(name, OriginExternal, dst, nil, sum)
	m.mu.Lock()
	m.pins = pins
	m.plugins[name] = p
	m.startLocked(p)
	serving := p.cancel != nil
	m.mu.Unlock()
	m.log.Info("plugin installed", "plugin", name, "sha256", sum, "from", path)
	if !serving {
		return m.status(p), nil
	}

	wctx, cancel := context.WithTimeout(ctx, installWait)
	defer cancel()
	select {
	case <-p.first:
	case <-wctx.Done():
		// Still starting: keep it; the supervisor carries on.
		return m.status(p), nil
	}
	if err := p.firstErr; err != nil {
		if rerr := m.remove(name); rerr != nil {
			m.log.Warn("removing a plugin that did not start", "plugin", name, "error", rerr)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrStart, name, err)
	}
	return m.status(p), nil
}

// Remove stops an external plugin and deletes its executable and pin.
func (m *Manager) Remove(name string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	return m.remove(name)
}

// remove is Remove with m.opMu held.
func (m *Manager) remove(name string) error {
	m.mu.Lock()
	p, ok := m.plugins[name]
	switch {
	case !ok:
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	case p.origin == OriginBuiltin:
		m.mu.Unlock()
		return fmt.Errorf("%w: %s (remove its section under plugins: in the site config)", ErrBuiltin, name)
	}
	delete(m.plugins, name)
	cancel, done := p.cancel, p.done
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	pins := m.pinsCopy()
	delete(pins, name)
	if err := savePins(m.cfg.PluginDir, pins); err != nil {
		return fmt.Errorf("pluginhost: remove %s: %w", name, err)
	}
	m.mu.Lock()
	m.pins = pins
	m.mu.Unlock()
	if err := os.Remove(p.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pluginhost: remove %s: %w", name, err)
	}
	m.log.Info("plugin removed", "plugin", name)
	return nil
}

func (m *Manager) pinsCopy() map[string]pin {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]pin, len(m.pins))
	for k, v := range m.pins {
		out[k] = v
	}
	return out
}

// Events delivers e to every running plugin that wants its kind (Info
// Events), asynchronously and in order per plugin. A plugin whose queue is full loses e (counted).
func (m *Manager) Events(e sdk.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.plugins {
		inst := p.inst
		if inst == nil || !inst.wantsEvent(e.Kind) {
			continue
		}
		select {
		case inst.queue <- e:
		default:
			p.dropped++
			if p.dropped == 1 || p.dropped%100 == 0 {
				m.log.Warn("plugin event queue full: events dropped", "plugin", p.name, "dropped", p.dropped)
			}
		}
	}
}

// Metrics asks every running plugin for its own metrics (sdk.MetricsSource),
// concurrently, until ctx ends; a plugin that fails or is late is left
// out of this scrape.
func (m *Manager) Metrics(ctx context.Context) map[string][]sdk.Metric {
	type source struct {
		name string
		src  sdk.MetricsSource
	}
	var sources []source
	m.mu.Lock()
	for _, p := range m.plugins {
		if p.inst == nil {
			continue
		}
		if src, ok := p.inst.impl.(sdk.MetricsSource); ok {
			sources = append(sources, source{p.name, src})
		}
	}
	m.mu.Unlock()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[string][]sdk.Metric, len(sources))
	for _, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms, err := s.src.Metrics(ctx)
			if err != nil {
				m.log.Debug("plugin metrics", "plugin", s.name, "error", err)
				return
			}
			mu.Lock()
			out[s.name] = ms
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// Status reports every plugin, sorted by name.
func (m *Manager) Status() []*adminv1.PluginStatus {
	m.mu.Lock()
	names := make([]string, 0, len(m.plugins))
	for n := range m.plugins {
		names = append(names, n)
	}
	m.mu.Unlock()
	sort.Strings(names)
	out := make([]*adminv1.PluginStatus, 0, len(names))
	for _, n := range names {
		m.mu.Lock()
		p := m.plugins[n]
		m.mu.Unlock()
		if p != nil {
			out = append(out, m.status(p))
		}
	}
	return out
}

// Plugin reports one plugin.
func (m *Manager) Plugin(name string) (*adminv1.PluginStatus, bool) {
	m.mu.Lock()
	p := m.plugins[name]
	m.mu.Unlock()
	if p == nil {
		return nil, false
	}
	return m.status(p), true
}

func (m *Manager) status(p *plugin) *adminv1.PluginStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &adminv1.PluginStatus{
		Name:       p.name,
		Protocol:   p.protocolLocked(),
		Origin:     p.origin,
		Path:       p.path,
		Sha256:     p.sha256,
		Health:     p.health,
		Restarts:   p.restarts,
		LastError:  p.lastErr,
		Endpoints:  slices.Clone(p.endpoints),
		Pid:        int64(p.pid),
		ApiVersion: p.apiVersion,
		Version:    p.version,
	}
}

// ProtocolHealth reports the health of each protocol plugin ("sip",
// "h323") for the heartbeats: SERVING while it serves, DOWN when it does
// not serve, is restarting or failed. A plugin still starting for the first
// time is left out (its health is not known yet: a site that starts must
// not look dead to its backup). A plugin's protocol is known from its
// first successful info; until then a built-in plugin named after a
// protocol is taken to serve it.
func (m *Manager) ProtocolHealth() map[string]federationv1.PluginHealth {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]federationv1.PluginHealth)
	for _, p := range m.plugins {
		proto := p.protocolLocked()
		if proto == "" || p.health == HealthStarting {
			continue
		}
		h := federationv1.PluginHealth_PLUGIN_HEALTH_DOWN
		if p.health == HealthServing {
			h = federationv1.PluginHealth_PLUGIN_HEALTH_SERVING
		}
		// Two plugins of one protocol: it serves if either does.
		if out[proto] != federationv1.PluginHealth_PLUGIN_HEALTH_SERVING {
			out[proto] = h
		}
	}
	return out
}
