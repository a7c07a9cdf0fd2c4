package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rallyvoip/rally/plugins/sdk"
)

const (
	pluginName    = "webhook"
	pluginVersion = "0.1.0"
	// postTimeout bounds one POST, connection included.
	postTimeout = 2 * time.Second
)

// configSchema is the JSON Schema of the plugin's config section.
const configSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "url": {"type": "string", "format": "uri", "description": "where events are POSTed (http or https)"}
  },
  "required": ["url"],
  "additionalProperties": false
}`

// config is the plugin's section of the site config:
//
//	plugins:
//	  webhook: {url: "http://127.0.0.1:8080/rally"}
type config struct {
	URL string `json:"url"`
	// shown is URL with any password masked, for logs and health.
	shown string
}

// parseConfig decodes and checks the config section. Its errors wrap
// sdk.ErrInvalidConfig and name the key.
func parseConfig(raw []byte) (config, error) {
	var c config
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return config{}, fmt.Errorf("%w: webhook: %v", sdk.ErrInvalidConfig, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return config{}, fmt.Errorf("%w: webhook: trailing data after the config object", sdk.ErrInvalidConfig)
		}
	}
	if c.URL == "" {
		return config{}, fmt.Errorf("%w: webhook: url: missing (plugins: {webhook: {url: http://HOST:PORT/PATH}})", sdk.ErrInvalidConfig)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return config{}, fmt.Errorf("%w: webhook: url: %v", sdk.ErrInvalidConfig, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return config{}, fmt.Errorf("%w: webhook: url: %q: scheme must be http or https", sdk.ErrInvalidConfig, u.Redacted())
	}
	if u.Host == "" {
		return config{}, fmt.Errorf("%w: webhook: url: %q: no host", sdk.ErrInvalidConfig, u.Redacted())
	}
	c.shown = u.Redacted()
	return c, nil
}

// payload is the JSON body of one POST.
type payload struct {
	Time    string `json:"time"` // RFC 3339, UTC
	Kind    string `json:"kind"`
	Peer    string `json:"peer"`
	From    string `json:"from"`
	To      string `json:"to"`
	PhoneID string `json:"phone_id"`
	Message string `json:"message"`
	Site    string `json:"site"`
}

// webhook is the plugin.
type webhook struct {
	log    *slog.Logger
	client *http.Client

	mu    sync.RWMutex
	url   string
	shown string // url with any password masked
	site  string
}

var _ sdk.Plugin = (*webhook)(nil)

func newWebhook(log *slog.Logger) *webhook {
	return &webhook{log: log, client: &http.Client{Timeout: postTimeout}}
}

func (w *webhook) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{
		Name:         pluginName,
		Version:      pluginVersion,
		ConfigSchema: configSchema,
		APIVersions:  []uint32{sdk.APIVersion},
	}, nil
}

// Configure takes the url from the config section. The webhook listens on
// nothing and does not use the host.
func (w *webhook) Configure(_ context.Context, cfg sdk.Config, _ sdk.Host) ([]string, error) {
	c, err := parseConfig(cfg.ConfigJSON)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.url, w.shown, w.site = c.URL, c.shown, cfg.Site
	w.mu.Unlock()
	w.log.Info("configured", "site", cfg.Site, "url", c.shown, "api_version", cfg.APIVersion)
	return nil, nil
}

// HandleEvent POSTs the event. Delivery is best effort: a failure is
// logged, and the event counts as handled.
func (w *webhook) HandleEvent(ctx context.Context, e sdk.Event) error {
	w.mu.RLock()
	target, shown, site := w.url, w.shown, w.site
	w.mu.RUnlock()
	if target == "" {
		return errors.New("webhook: event before Configure")
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	body, err := json.Marshal(payload{
		Time:    t.UTC().Format(time.RFC3339Nano),
		Kind:    string(e.Kind),
		Peer:    e.Peer,
		From:    e.From,
		To:      e.To,
		PhoneID: e.PhoneID,
		Message: e.Message,
		Site:    site,
	})
	if err != nil {
		return fmt.Errorf("webhook: encode event: %w", err)
	}
	if err := w.post(ctx, target, body); err != nil {
		w.log.Warn("post failed", "url", shown, "kind", string(e.Kind), "error", err)
		return nil
	}
	w.log.Debug("posted", "url", shown, "kind", string(e.Kind))
	return nil
}

func (w *webhook) post(ctx context.Context, target string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, postTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rally-webhook/"+pluginVersion)
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// Health: the webhook serves no phones, so it is always serving.
func (w *webhook) Health(context.Context) (sdk.Health, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.url == "" {
		return sdk.Health{Serving: true, Message: "not configured"}, nil
	}
	return sdk.Health{Serving: true, Message: "posting events to " + w.shown}, nil
}
