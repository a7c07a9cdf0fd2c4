package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rallyvoip/rally/plugins/sdk/admission"
	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

func TestViewUpdateRoundTrip(t *testing.T) {
	sip, h323 := federationv1.Protocol_PROTOCOL_SIP, federationv1.Protocol_PROTOCOL_H323
	phone := admission.PhoneEntry{ID: "301", User: "301", Home: "paris", Kind: federationv1.PhoneKind_PHONE_KIND_SOFTPHONE, Protocol: h323, HotDeskUser: "305"}
	peer := admission.PeerView{Site: "paris", BackedUp: true, State: admission.StateFailbackPending, Failback: admission.FailbackManual,
		ProtocolDown: map[federationv1.Protocol]bool{sip: true, h323: true},
		Endpoints:    []string{"sip:udp://127.0.0.2:5060", "h323:udp://127.0.0.2:1719"}, Backup: "london", BacksUpSelf: true}
	licences := 7
	tests := []struct {
		name string
		in   ViewUpdate
	}{
		{name: "snapshot", in: ViewUpdate{Snapshot: &ViewSnapshot{Site: "london", Licenses: 100,
			Phones: []admission.PhoneEntry{phone, {ID: "201", Home: "london"}},
			Peers:  []admission.PeerView{peer, {Site: "rome", State: admission.StateConnecting}}}}},
		{name: "empty snapshot", in: ViewUpdate{Snapshot: &ViewSnapshot{Site: "london"}}},
		{name: "put phone", in: ViewUpdate{Change: &ViewChange{PutPhone: &phone}}},
		{name: "remove phone", in: ViewUpdate{Change: &ViewChange{RemovePhone: "301"}}},
		{name: "put peer", in: ViewUpdate{Change: &ViewChange{PutPeer: &peer}}},
		{name: "remove peer", in: ViewUpdate{Change: &ViewChange{RemovePeer: "paris"}}},
		{name: "licences", in: ViewUpdate{Change: &ViewChange{Licenses: &licences}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := viewUpdateToProto(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := viewUpdateFromProto(p)
			if !reflect.DeepEqual(got, tt.in) {
				t.Fatalf("round trip = %+v, want %+v", got, tt.in)
			}
		})
	}
}

func TestViewUpdateInvalid(t *testing.T) {
	neg := -3
	tests := []struct {
		name string
		in   ViewUpdate
	}{
		{name: "nothing set", in: ViewUpdate{}},
		{name: "snapshot and change", in: ViewUpdate{Snapshot: &ViewSnapshot{}, Change: &ViewChange{RemovePeer: "x"}}},
		{name: "empty change", in: ViewUpdate{Change: &ViewChange{}}},
		{name: "two changes", in: ViewUpdate{Change: &ViewChange{RemovePeer: "x", RemovePhone: "y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := viewUpdateToProto(tt.in); err == nil {
				t.Fatalf("viewUpdateToProto = %v, want an error", p)
			}
		})
	}
	p, err := viewUpdateToProto(ViewUpdate{Change: &ViewChange{Licenses: &neg}})
	if err != nil || p.GetChange().GetLicenses() != 0 {
		t.Fatalf("negative licences = %v, %v; want 0", p, err)
	}
}

func TestEventUnknownKindFromNewerHost(t *testing.T) {
	e := eventFromProto(nil)
	if e.Kind.Valid() || !strings.HasPrefix(string(e.Kind), "unknown:") {
		t.Fatalf("kind = %q", e.Kind)
	}
}

func TestNegotiateAPIVersion(t *testing.T) {
	tests := []struct {
		name     string
		versions []uint32
		want     uint32
		wantErr  bool
	}{
		{name: "same", versions: []uint32{1}, want: 1},
		{name: "plugin newer", versions: []uint32{3, 1, 2}, want: 1},
		{name: "none", versions: nil, wantErr: true},
		{name: "only newer", versions: []uint32{2, 3}, wantErr: true},
		{name: "zero is no version", versions: []uint32{0}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NegotiateAPIVersion(tt.versions)
			if tt.wantErr {
				if !errors.Is(err, ErrNoCommonAPIVersion) {
					t.Fatalf("err = %v, want ErrNoCommonAPIVersion", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NegotiateAPIVersion = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		sentinel error
	}{
		{name: "plain", err: errors.New("boom"), code: codes.Unknown},
		{name: "invalid config", err: fmt.Errorf("%w: url: missing", ErrInvalidConfig), code: codes.InvalidArgument, sentinel: ErrInvalidConfig},
		{name: "not found", err: fmt.Errorf("x: %w", ErrNotFound), code: codes.NotFound, sentinel: ErrNotFound},
		{name: "status kept", err: status.Error(codes.PermissionDenied, "no"), code: codes.PermissionDenied},
		{name: "unavailable is for the transport", err: status.Error(codes.Unavailable, "busy"), code: codes.Unknown},
		{name: "wrapped status", err: fmt.Errorf("lookup: %w", status.Error(codes.PermissionDenied, "no")), code: codes.PermissionDenied},
		{name: "remote error passed on", err: fromStatus(context.Background(), status.Error(codes.NotFound, "user 9")), code: codes.NotFound, sentinel: ErrNotFound},
		{name: "deadline", err: fmt.Errorf("lookup: %w", context.DeadlineExceeded), code: codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := toStatus(tt.err)
			if status.Code(st) != tt.code {
				t.Fatalf("code = %v, want %v", status.Code(st), tt.code)
			}
			back := fromStatus(context.Background(), st)
			want := tt.err.Error()
			if s, ok := status.FromError(tt.err); ok {
				want = s.Message()
			}
			if back.Error() != want {
				t.Fatalf("message = %q, want %q", back, want)
			}
			if tt.sentinel != nil && !errors.Is(back, tt.sentinel) {
				t.Fatalf("%v does not wrap %v", back, tt.sentinel)
			}
			if status.Code(back) != tt.code {
				t.Fatalf("code after the round trip = %v", status.Code(back))
			}
		})
	}
	if toStatus(nil) != nil || fromStatus(context.Background(), nil) != nil {
		t.Fatal("nil error mapped to non-nil")
	}
}

// TestLoggerFormat: the lines are what go-plugin's host parses as hclog
// JSON (log_entry.go): @message, @level, @timestamp in its layout.
func TestLoggerFormat(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(&buf, slog.Level(-8))
	l.Log(context.Background(), slog.Level(-8), "t")
	l.Debug("d")
	l.Info("posted", "url", "http://x", "status", 204)
	l.Warn("w")
	l.Error("failed", "error", errors.New("boom"))
	wantLevels := []string{"trace", "debug", "info", "warn", "error"}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(wantLevels) {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if m["@level"] != wantLevels[i] {
			t.Errorf("line %d: @level %v, want %s", i, m["@level"], wantLevels[i])
		}
		ts, _ := m["@timestamp"].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", ts); err != nil {
			t.Errorf("line %d: @timestamp %q: %v", i, ts, err)
		}
		if _, ok := m["@message"].(string); !ok {
			t.Errorf("line %d: no @message: %s", i, line)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; ok {
				t.Errorf("line %d: slog key %q left: %s", i, k, line)
			}
		}
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(lines[2]), &m)
	if m["@message"] != "posted" || m["url"] != "http://x" || m["status"] != float64(204) {
		t.Fatalf("info line = %v", m)
	}
}
