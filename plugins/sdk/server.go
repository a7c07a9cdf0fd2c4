package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
	pluginv1 "github.com/rallyvoip/rally/proto/rally/plugin/v1"
)

// This file is the plugin's half of the shims: pluginServer serves a
// Plugin as PluginService, and hostClient is the plugin's client of the
// host's HostService (a Host), dialled on go-plugin's broker.

// pluginServer serves a Plugin implementation in the plugin process.
type pluginServer struct {
	pluginv1.UnimplementedPluginServiceServer
	impl   Plugin
	broker *plugin.GRPCBroker

	mu sync.Mutex
	// hosts holds one client per broker id: go-plugin lets an id be
	// dialled only once, and the host reuses its id across Configures.
	hosts map[uint32]*hostClient
}

var _ pluginv1.PluginServiceServer = (*pluginServer)(nil)

func (s *pluginServer) GetInfo(ctx context.Context, _ *pluginv1.GetInfoRequest) (*pluginv1.GetInfoResponse, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(info.APIVersions) == 0 {
		info.APIVersions = []uint32{APIVersion}
	}
	return infoToProto(info), nil
}

func (s *pluginServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	if req.GetHostBrokerId() == 0 {
		return nil, status.Error(codes.InvalidArgument, "sdk: configure without a host broker id")
	}
	host, err := s.host(req.GetHostBrokerId())
	if err != nil {
		return nil, status.Errorf(codes.Unknown, "sdk: dial the host service: %v", err)
	}
	endpoints, err := s.impl.Configure(ctx, configFromProto(req), host)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.ConfigureResponse{Endpoints: endpoints}, nil
}

func (s *pluginServer) host(id uint32) (*hostClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hosts[id]; ok {
		return h, nil
	}
	conn, err := s.broker.Dial(id)
	if err != nil {
		return nil, err
	}
	h := &hostClient{client: pluginv1.NewHostServiceClient(conn)}
	if s.hosts == nil {
		s.hosts = make(map[uint32]*hostClient)
	}
	s.hosts[id] = h
	return h, nil
}

func (s *pluginServer) HandleEvent(ctx context.Context, req *pluginv1.HandleEventRequest) (*pluginv1.HandleEventResponse, error) {
	if req.GetEvent() == nil {
		return nil, status.Error(codes.InvalidArgument, "sdk: handle event without an event")
	}
	if err := s.impl.HandleEvent(ctx, eventFromProto(req.GetEvent())); err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.HandleEventResponse{}, nil
}

func (s *pluginServer) GetMetrics(ctx context.Context, _ *pluginv1.GetMetricsRequest) (*pluginv1.GetMetricsResponse, error) {
	src, ok := s.impl.(MetricsSource)
	if !ok {
		return &pluginv1.GetMetricsResponse{}, nil
	}
	ms, err := src.Metrics(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pluginv1.GetMetricsResponse{Metrics: make([]*pluginv1.Metric, 0, len(ms))}
	for _, m := range ms {
		resp.Metrics = append(resp.Metrics, metricToProto(m))
	}
	return resp, nil
}

func (s *pluginServer) GetHealth(ctx context.Context, _ *pluginv1.GetHealthRequest) (*pluginv1.GetHealthResponse, error) {
	h, err := s.impl.Health(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return healthToProto(h), nil
}

// hostClient is the plugin's Host: HostService over the broker.
type hostClient struct {
	client pluginv1.HostServiceClient
}

var _ Host = (*hostClient)(nil)

// watchBuffer is how many view updates may wait for a slow consumer
// before the stream stops reading (gRPC flow control then holds the host).
const watchBuffer = 64

func (h *hostClient) WatchView(ctx context.Context) (<-chan ViewUpdate, error) {
	sctx, cancel := context.WithCancel(ctx)
	stream, err := h.client.WatchView(sctx, &pluginv1.WatchViewRequest{})
	if err != nil {
		cancel()
		return nil, fromStatus(ctx, err)
	}
	ch := make(chan ViewUpdate, watchBuffer)
	go func() {
		defer close(ch)
		defer cancel()
		for {
			r, err := stream.Recv()
			var u ViewUpdate
			switch {
			case errors.Is(err, io.EOF):
				return
			case err != nil:
				if ctx.Err() != nil {
					return // the consumer stopped watching
				}
				u = ViewUpdate{Err: fmt.Errorf("watch view: %w", fromStatus(ctx, err))}
			default:
				u = viewUpdateFromProto(r)
			}
			select {
			case ch <- u:
			case <-ctx.Done():
				return
			}
			if u.Err != nil {
				return
			}
		}
	}()
	return ch, nil
}

func (h *hostClient) GetRecord(ctx context.Context, home, key string) (*federationv1.Record, error) {
	r, err := h.client.GetRecord(ctx, &pluginv1.GetRecordRequest{Key: key, HomeSite: home})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	if r.GetRecord() == nil {
		return nil, fmt.Errorf("%w: record %q of %q", ErrNotFound, key, home)
	}
	return r.GetRecord(), nil
}

func (h *hostClient) ReportRegistration(ctx context.Context, r Registration) (bool, string, error) {
	resp, err := h.client.ReportRegistration(ctx, registrationToProto(r))
	if err != nil {
		return false, "", fromStatus(ctx, err)
	}
	return resp.GetAccepted(), resp.GetReason(), nil
}

func (h *hostClient) ReportRegistrations(ctx context.Context, rs []Registration) ([]ReportResult, error) {
	req := &pluginv1.ReportRegistrationsRequest{Registrations: make([]*pluginv1.ReportRegistrationRequest, len(rs))}
	for i, r := range rs {
		req.Registrations[i] = registrationToProto(r)
	}
	resp, err := h.client.ReportRegistrations(ctx, req)
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	if len(resp.GetResults()) != len(rs) {
		return nil, fmt.Errorf("sdk: host answered %d results for %d registrations", len(resp.GetResults()), len(rs))
	}
	out := make([]ReportResult, len(rs))
	for i, r := range resp.GetResults() {
		out[i] = ReportResult{Accepted: r.GetAccepted(), Reason: r.GetReason()}
	}
	return out, nil
}

func (h *hostClient) ListRegistrations(ctx context.Context, protocol string) ([]Registration, error) {
	resp, err := h.client.ListRegistrations(ctx, &pluginv1.ListRegistrationsRequest{Protocol: protocol})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	out := make([]Registration, 0, len(resp.GetRegistrations()))
	for _, r := range resp.GetRegistrations() {
		out = append(out, registrationFromProto(r))
	}
	return out, nil
}

func (h *hostClient) ListCredentials(ctx context.Context, home string) ([]Credentials, error) {
	stream, err := h.client.ListCredentials(ctx, &pluginv1.ListCredentialsRequest{HomeSite: home})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	var out []Credentials
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fromStatus(ctx, err)
		}
		for _, c := range r.GetCredentials() {
			out = append(out, Credentials{PhoneID: c.GetPhoneId(), HA1MD5: c.GetHa1Md5(), HA1SHA256: c.GetHa1Sha256()})
		}
	}
}

func (h *hostClient) ReportCallState(ctx context.Context, phoneID string, busy bool) error {
	_, err := h.client.ReportCallState(ctx, &pluginv1.ReportCallStateRequest{PhoneId: phoneID, Busy: busy})
	return fromStatus(ctx, err)
}
