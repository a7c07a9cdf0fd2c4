package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/rallyvoip/rally/proto/rally/plugin/v1"
)

// This file is the host's half of the shims: pluginClient, the host's
// client for a plugin (a Plugin over PluginService), and hostServer, the
// HostService it serves to the plugin on go-plugin's broker.

// pluginClient is the host's client for one plugin process.
type pluginClient struct {
	client pluginv1.PluginServiceClient
	conn   *grpc.ClientConn
	broker *plugin.GRPCBroker
	// doneCtx is go-plugin's: cancelled when the plugin process exits.
	doneCtx context.Context

	mu sync.Mutex
	// host serves HostService on the broker, started by the first
	// Configure and reused by later ones (a broker id can be dialled
	// only once).
	host   *hostServer
	hostID uint32
}

var _ Plugin = (*pluginClient)(nil)

func (c *pluginClient) err(ctx context.Context, err error) error {
	return pluginErr(ctx, c.doneCtx, c.conn, err)
}

func (c *pluginClient) Info(ctx context.Context) (Info, error) {
	r, err := c.client.GetInfo(ctx, &pluginv1.GetInfoRequest{})
	if err != nil {
		return Info{}, c.err(ctx, err)
	}
	return infoFromProto(r), nil
}

// Configure serves host to the plugin on the broker, then configures the
// plugin with the broker id. The first Configure starts HostService;
// later ones (a reconfiguration of the same process) switch it to the new
// host, so a plugin's Host stays valid for the life of its process.
func (c *pluginClient) Configure(ctx context.Context, cfg Config, host Host) ([]string, error) {
	if host == nil {
		return nil, errors.New("sdk: Configure: nil Host")
	}
	if err := c.doneCtx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPluginShutdown, err)
	}
	c.mu.Lock()
	if c.host == nil {
		c.host = &hostServer{}
		c.host.set(host)
		c.hostID = c.broker.NextId()
		srv := c.host
		go c.broker.AcceptAndServe(c.hostID, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(opts...)
			pluginv1.RegisterHostServiceServer(s, srv)
			return s
		})
	} else {
		c.host.set(host)
	}
	id := c.hostID
	c.mu.Unlock()

	r, err := c.client.Configure(ctx, configToProto(cfg, id))
	if err != nil {
		return nil, c.err(ctx, err)
	}
	return r.GetEndpoints(), nil
}

func (c *pluginClient) HandleEvent(ctx context.Context, e Event) error {
	pe, err := eventToProto(e)
	if err != nil {
		return err
	}
	_, err = c.client.HandleEvent(ctx, &pluginv1.HandleEventRequest{Event: pe})
	return c.err(ctx, err)
}

// Metrics asks the plugin for its metrics; a plugin built before
// GetMetrics existed has none.
func (c *pluginClient) Metrics(ctx context.Context) ([]Metric, error) {
	r, err := c.client.GetMetrics(ctx, &pluginv1.GetMetricsRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil, nil
	}
	if err != nil {
		return nil, c.err(ctx, err)
	}
	out := make([]Metric, 0, len(r.GetMetrics()))
	for _, m := range r.GetMetrics() {
		out = append(out, metricFromProto(m))
	}
	return out, nil
}

var _ MetricsSource = (*pluginClient)(nil)

func (c *pluginClient) Health(ctx context.Context) (Health, error) {
	r, err := c.client.GetHealth(ctx, &pluginv1.GetHealthRequest{})
	if err != nil {
		return Health{}, c.err(ctx, err)
	}
	return healthFromProto(r), nil
}

// hostServer serves a Host as HostService.
type hostServer struct {
	pluginv1.UnimplementedHostServiceServer
	host atomic.Pointer[hostBox]
}

// hostBox lets an interface value live in an atomic.Pointer.
type hostBox struct{ h Host }

var _ pluginv1.HostServiceServer = (*hostServer)(nil)

func (s *hostServer) set(h Host) { s.host.Store(&hostBox{h}) }
func (s *hostServer) get() Host  { return s.host.Load().h }

// WatchView relays the host's channel. A ViewUpdate with Err ends the
// stream with that error; the channel's close ends it cleanly. When the
// plugin goes away the stream's context ends, which the host's producer
// must watch to stop and close its channel.
func (s *hostServer) WatchView(_ *pluginv1.WatchViewRequest, stream pluginv1.HostService_WatchViewServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	ch, err := s.get().WatchView(ctx)
	if err != nil {
		return toStatus(err)
	}
	defer func() {
		cancel()
		// Never leave the producer blocked on a send: drain until it sees
		// ctx end and closes.
		go func() {
			for range ch {
			}
		}()
	}()
	for {
		select {
		case <-ctx.Done():
			return toStatus(ctx.Err())
		case u, ok := <-ch:
			if !ok {
				return nil
			}
			if u.Err != nil {
				return toStatus(u.Err)
			}
			r, err := viewUpdateToProto(u)
			if err != nil {
				return status.Errorf(codes.Internal, "host: %v", err)
			}
			if err := stream.Send(r); err != nil {
				return err
			}
		}
	}
}

func (s *hostServer) GetRecord(ctx context.Context, req *pluginv1.GetRecordRequest) (*pluginv1.GetRecordResponse, error) {
	rec, err := s.get().GetRecord(ctx, req.GetHomeSite(), req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	if rec == nil {
		return nil, toStatus(fmt.Errorf("%w: record %q of %q", ErrNotFound, req.GetKey(), req.GetHomeSite()))
	}
	return &pluginv1.GetRecordResponse{Record: rec}, nil
}

func (s *hostServer) ReportRegistration(ctx context.Context, req *pluginv1.ReportRegistrationRequest) (*pluginv1.ReportRegistrationResponse, error) {
	r := registrationFromProto(req)
	if r.PhoneID == "" {
		return nil, status.Error(codes.InvalidArgument, "sdk: registration without a phone id")
	}
	if r.Outcome == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "sdk: registration of %q with outcome %v", r.PhoneID, req.GetOutcome())
	}
	accepted, reason, err := s.get().ReportRegistration(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.ReportRegistrationResponse{Accepted: accepted, Reason: reason}, nil
}

func (s *hostServer) ReportRegistrations(ctx context.Context, req *pluginv1.ReportRegistrationsRequest) (*pluginv1.ReportRegistrationsResponse, error) {
	rs := make([]Registration, 0, len(req.GetRegistrations()))
	for _, pr := range req.GetRegistrations() {
		r := registrationFromProto(pr)
		if r.PhoneID == "" {
			return nil, status.Error(codes.InvalidArgument, "sdk: registration without a phone id")
		}
		if r.Outcome == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "sdk: registration of %q with outcome %v", r.PhoneID, pr.GetOutcome())
		}
		rs = append(rs, r)
	}
	results, err := s.get().ReportRegistrations(ctx, rs)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(results) != len(rs) {
		return nil, status.Errorf(codes.Internal, "host: %d results for %d registrations", len(results), len(rs))
	}
	resp := &pluginv1.ReportRegistrationsResponse{Results: make([]*pluginv1.ReportRegistrationResponse, len(results))}
	for i, r := range results {
		resp.Results[i] = &pluginv1.ReportRegistrationResponse{Accepted: r.Accepted, Reason: r.Reason}
	}
	return resp, nil
}

func (s *hostServer) ListRegistrations(ctx context.Context, req *pluginv1.ListRegistrationsRequest) (*pluginv1.ListRegistrationsResponse, error) {
	regs, err := s.get().ListRegistrations(ctx, req.GetProtocol())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pluginv1.ListRegistrationsResponse{Registrations: make([]*pluginv1.ReportRegistrationRequest, 0, len(regs))}
	for _, r := range regs {
		resp.Registrations = append(resp.Registrations, registrationToProto(r))
	}
	return resp, nil
}

// credentialsBatch is how many phones' credentials one message of
// ListCredentials carries (about 130 KB).
const credentialsBatch = 1000

func (s *hostServer) ListCredentials(req *pluginv1.ListCredentialsRequest, stream pluginv1.HostService_ListCredentialsServer) error {
	creds, err := s.get().ListCredentials(stream.Context(), req.GetHomeSite())
	if err != nil {
		return toStatus(err)
	}
	for len(creds) > 0 {
		n := min(len(creds), credentialsBatch)
		resp := &pluginv1.ListCredentialsResponse{Credentials: make([]*pluginv1.PhoneCredentials, 0, n)}
		for _, c := range creds[:n] {
			resp.Credentials = append(resp.Credentials, &pluginv1.PhoneCredentials{PhoneId: c.PhoneID, Ha1Md5: c.HA1MD5, Ha1Sha256: c.HA1SHA256})
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		creds = creds[n:]
	}
	return nil
}

func (s *hostServer) ReportCallState(ctx context.Context, req *pluginv1.ReportCallStateRequest) (*pluginv1.ReportCallStateResponse, error) {
	if req.GetPhoneId() == "" {
		return nil, status.Error(codes.InvalidArgument, "sdk: call state without a phone id")
	}
	if err := s.get().ReportCallState(ctx, req.GetPhoneId(), req.GetBusy()); err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.ReportCallStateResponse{}, nil
}
