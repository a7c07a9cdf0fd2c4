package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/rallyvoip/rally/plugins/sdk"
)

// plugin is one supervised plugin. Its status fields are guarded by
// Manager.mu; name, origin, path, args, sha256, first and done are set
// before its supervisor starts and not changed after.
type plugin struct {
	name, origin string
	// path is the executable: the installed file, or "" for a built-in
	// (Config.Executable).
	path string
	args []string
	// sha256 is the pin (hex) of an external plugin.
	sha256 string

	// first is closed when the first launch has settled: firstErr is nil
	// once the plugin was configured, or the launch error.
	first    chan struct{}
	firstErr error
	// done is closed when the supervisor has returned; cancel stops it
	// (nil until started).
	done   chan struct{}
	cancel context.CancelFunc

	// Status, under Manager.mu.
	protocol, version string
	// infoKnown is set once an info answer gave protocol and version.
	infoKnown  bool
	apiVersion uint32
	health     string
	restarts   uint32
	lastErr    string
	endpoints  []string
	pid        int
	dropped    uint64
	// inst is the running instance, nil between launches.
	inst *instance
}

// instance is one configured plugin process.
type instance struct {
	impl  sdk.Plugin
	queue chan sdk.Event
	// wants are the event kinds the plugin asked for; nil means all.
	wants map[sdk.EventKind]bool
}

// wantsEvent reports whether the plugin asked for events of kind k.
func (i *instance) wantsEvent(k sdk.EventKind) bool {
	return i.wants == nil || i.wants[k]
}

func (m *Manager) newPlugin(name, origin, path string, args []string, sum string) *plugin {
	return &plugin{
		name: name, origin: origin, path: path, args: args, sha256: sum,
		first: make(chan struct{}), done: make(chan struct{}),
		health: HealthStarting,
	}
}

// protocolLocked is the protocol the plugin serves: from its info, or for
// a built-in not yet launched, its name when that names a protocol.
func (p *plugin) protocolLocked() string {
	if p.infoKnown {
		return p.protocol
	}
	if p.origin == OriginBuiltin && (p.name == "sip" || p.name == "h323") {
		return p.name
	}
	return ""
}

// permanentError is a launch failure that no restart can cure: the
// binary does not match its pin, speaks no API version of this host, or
// the plugin rejected its configuration. The plugin is then failed.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err: err} }

// supervise launches p and relaunches it with backoff until ctx ends or a
// launch fails permanently.
func (m *Manager) supervise(ctx context.Context, p *plugin) {
	defer close(p.done)
	log := m.log.With("plugin", p.name)
	backoff := m.cfg.MinBackoff
	firstDone := false
	settle := func(err error) {
		if !firstDone {
			firstDone = true
			p.firstErr = err
			close(p.first)
		}
	}
	defer settle(context.Canceled)
	for {
		configured := time.Time{}
		err := m.runOnce(ctx, p, func() {
			configured = time.Now()
			settle(nil)
		})
		if ctx.Err() != nil {
			m.setStatus(p, func() { p.pid = 0 })
			return
		}
		if err == nil {
			err = errors.New("plugin ended")
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			log.Error("plugin failed", "error", err)
			m.setStatus(p, func() { p.health, p.lastErr, p.pid = HealthFailed, err.Error(), 0 })
			settle(err)
			return
		}
		settle(err)
		if !configured.IsZero() && time.Since(configured) >= m.cfg.HealthyReset {
			backoff = m.cfg.MinBackoff
		}
		log.Warn("plugin stopped: restarting", "error", err, "backoff", backoff)
		m.setStatus(p, func() {
			p.health, p.lastErr, p.pid = HealthRestarting, err.Error(), 0
			p.restarts++
		})
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, m.cfg.MaxBackoff)
	}
}

func (m *Manager) setStatus(p *plugin, f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
}

// runOnce launches, configures and watches one process of p until it
// ends or ctx ends; configured is called once the plugin is configured.
func (m *Manager) runOnce(ctx context.Context, p *plugin, configured func()) (err error) {
	cmd, secure, err := m.command(p)
	if err != nil {
		return err
	}
	log := m.log.With("plugin", p.name)
	var exitMu sync.Mutex
	exitReason := ""
	hl := &hclogger{l: log, onExit: func(reason string) {
		exitMu.Lock()
		exitReason = reason
		exitMu.Unlock()
	}}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sdk.HandshakeConfig(),
		Plugins:          sdk.PluginSet(nil),
		Cmd:              cmd,
		SecureConfig:     secure,
		AutoMTLS:         true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hl,
		StartTimeout:     callTimeout,
	})
	// instCtx ends this instance: its event queue and the plugin's watch
	// streams stop with it.
	instCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		m.setStatus(p, func() { p.inst = nil })
		stop()
		wg.Wait()
		client.Kill()
	}()
	exited := func() error {
		exitMu.Lock()
		defer exitMu.Unlock()
		if exitReason != "" {
			return fmt.Errorf("plugin process exited: %s", exitReason)
		}
		return errors.New("plugin process exited")
	}

	rpc, err := client.Client()
	if err != nil {
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return permanent(fmt.Errorf("%s does not match its pinned SHA-256 %s: refusing to start it (reinstall it with rally plugin install): %w", p.path, p.sha256, err))
		}
		return fmt.Errorf("launch: %w", err)
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	m.setStatus(p, func() { p.pid = pid })
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return permanent(fmt.Errorf("dispense: %w", err))
	}
	impl, ok := raw.(sdk.Plugin)
	if !ok {
		return permanent(fmt.Errorf("dispense: got %T, not a rally plugin", raw))
	}

	cctx, cancel := context.WithTimeout(instCtx, callTimeout)
	info, err := impl.Info(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	versions := info.APIVersions
	if len(versions) == 0 {
		versions = []uint32{sdk.APIVersion}
	}
	api, err := sdk.NegotiateAPIVersion(versions)
	if err != nil {
		return permanent(fmt.Errorf("info: %w", err))
	}
	m.setStatus(p, func() {
		p.protocol, p.version, p.apiVersion, p.infoKnown = info.Protocol, info.Version, api, true
	})

	// The instance takes events from before Configure: what the plugin
	// reports while it configures (a registration restored, say) makes
	// events it must not miss. They are delivered once it is configured.
	inst := &instance{impl: impl, queue: make(chan sdk.Event, m.cfg.EventQueue)}
	if len(info.Events) > 0 {
		inst.wants = make(map[sdk.EventKind]bool, len(info.Events))
		for _, k := range info.Events {
			inst.wants[k] = true
		}
	}
	m.setStatus(p, func() { p.inst = inst })

	cfgJSON, _ := m.cfg.PluginConfig(p.name)
	host := &hostAdapter{b: m.cfg.Backend, done: instCtx.Done()}
	cctx, cancel = context.WithTimeout(instCtx, callTimeout)
	endpoints, err := impl.Configure(cctx, sdk.Config{
		APIVersion: api,
		Site:       m.cfg.Site,
		SIPDomain:  m.cfg.SIPDomain,
		ConfigJSON: cfgJSON,
		TLSCertPEM: m.cfg.TLSCertPEM,
		TLSKeyPEM:  m.cfg.TLSKeyPEM,
		CACertPEM:  m.cfg.CACertPEM,
	}, host)
	cancel()
	if err != nil {
		if errors.Is(err, sdk.ErrInvalidConfig) {
			return permanent(fmt.Errorf("configure: %w", err))
		}
		return fmt.Errorf("configure: %w", err)
	}
	health := m.checkHealth(instCtx, impl)
	m.setStatus(p, func() {
		p.endpoints = endpoints
		p.health, p.lastErr = health.state, health.message
	})
	log.Info("plugin configured", "pid", pid, "protocol", info.Protocol, "version", info.Version,
		"api_version", api, "endpoints", endpoints)
	configured()

	wg.Add(1)
	go func() {
		defer wg.Done()
		m.deliver(instCtx, p, inst)
	}()

	// The first poll comes soon: a plugin is starting until it answers.
	healthTick := time.NewTicker(min(startingPoll, m.cfg.HealthEvery))
	defer healthTick.Stop()
	exitTick := time.NewTicker(exitPoll)
	defer exitTick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-exitTick.C:
			if client.Exited() {
				return exited()
			}
		case <-healthTick.C:
			h := m.checkHealth(instCtx, impl)
			switch {
			case h.shutdown || client.Exited():
				return exited()
			case h.err != nil:
				failures++
				if failures >= healthFailures {
					return fmt.Errorf("health: %d checks failed in a row: %w", failures, h.err)
				}
				continue
			}
			failures = 0
			// A starting plugin is asked again soon: it serves in moments.
			if h.state == HealthStarting {
				healthTick.Reset(startingPoll)
			} else {
				healthTick.Reset(m.cfg.HealthEvery)
			}
			m.setStatus(p, func() {
				if p.health != h.state {
					log.Info("plugin health", "health", h.state, "message", h.message)
				}
				p.health = h.state
				if h.state == HealthNotServing {
					p.lastErr = h.message
				}
			})
		}
	}
}

// startingPoll is how soon a plugin is first polled after its launch, and
// how often while it says it is starting.
const startingPoll = 100 * time.Millisecond

// healthResult is one health poll.
type healthResult struct {
	state, message string
	err            error
	shutdown       bool
}

func (m *Manager) checkHealth(ctx context.Context, impl sdk.Plugin) healthResult {
	cctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	h, err := impl.Health(cctx)
	switch {
	case errors.Is(err, sdk.ErrPluginShutdown):
		return healthResult{state: HealthNotServing, err: err, shutdown: true}
	case err != nil:
		return healthResult{state: HealthNotServing, message: err.Error(), err: err}
	case h.Serving:
		return healthResult{state: HealthServing, message: h.Message}
	case h.Starting:
		return healthResult{state: HealthStarting, message: h.Message}
	default:
		msg := h.Message
		if msg == "" {
			msg = "plugin reports not serving"
		}
		return healthResult{state: HealthNotServing, message: msg}
	}
}

// deliver hands queued events to the plugin, one at a time, in order.
func (m *Manager) deliver(ctx context.Context, p *plugin, inst *instance) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-inst.queue:
			cctx, cancel := context.WithTimeout(ctx, eventTimeout)
			err := inst.impl.HandleEvent(cctx, e)
			cancel()
			if err != nil && ctx.Err() == nil {
				m.log.Warn("plugin event not delivered", "plugin", p.name, "kind", string(e.Kind), "error", err)
			}
		}
	}
}

// command builds the process of p and, for an external plugin, the
// checksum go-plugin verifies before it starts it.
func (m *Manager) command(p *plugin) (*exec.Cmd, *goplugin.SecureConfig, error) {
	if p.origin == OriginBuiltin {
		exe := m.cfg.Executable
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return nil, nil, permanent(fmt.Errorf("built-in plugin: %w", err))
			}
		}
		cmd := exec.Command(exe, p.args...)
		bindToParent(cmd)
		return cmd, nil, nil
	}
	sum, err := hex.DecodeString(p.sha256)
	if err != nil || len(sum) != sha256.Size {
		return nil, nil, permanent(fmt.Errorf("bad pin %q", p.sha256))
	}
	if _, err := os.Stat(p.path); err != nil {
		return nil, nil, permanent(fmt.Errorf("executable: %w", err))
	}
	cmd := exec.Command(p.path)
	bindToParent(cmd)
	return cmd, &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}, nil
}
