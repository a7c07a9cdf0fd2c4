// Package admin assembles a site's admin gRPC server: transport security
// (a unix socket for local access; operator mutual TLS for a host:port),
// health and reflection, and the one map that turns domain errors into
// gRPC status codes. The AdminService itself is implemented by the site.
package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// Domain errors a backend wraps so the edge maps them to status codes.
var (
	ErrNotFound    = errors.New("not found")
	ErrInvalid     = errors.New("invalid argument")
	ErrConflict    = errors.New("conflict")
	ErrUnavailable = errors.New("unavailable")
	ErrDenied      = errors.New("permission denied")
)

// codeOf is the one place domain errors become gRPC codes.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, ErrNotFound):
		return codes.NotFound
	case errors.Is(err, ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, ErrConflict):
		return codes.FailedPrecondition
	case errors.Is(err, ErrUnavailable):
		return codes.Unavailable
	case errors.Is(err, ErrDenied):
		return codes.PermissionDenied
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	default:
		return codes.Internal
	}
}

func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}

// Config says where and how the admin API listens.
type Config struct {
	// Network is "unix" or "tcp"; Addr the socket path or host:port.
	Network, Addr string
	// TLS is required for tcp: it must require and verify client
	// certificates from the federation CA.
	TLS *tls.Config
	// OperatorOf names the operator in a client certificate (tcp only).
	OperatorOf func(*x509.Certificate) (string, error)
	Logger     *slog.Logger
}

// Server is the admin gRPC server.
type Server struct {
	cfg    Config
	grpc   *grpc.Server
	health *health.Server
}

// New assembles the server around svc.
func New(cfg Config, svc adminv1.AdminServiceServer) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var opts []grpc.ServerOption
	switch cfg.Network {
	case "unix":
	case "tcp":
		if cfg.TLS == nil || cfg.OperatorOf == nil {
			return nil, fmt.Errorf("admin: %s: a host:port admin address needs operator TLS", cfg.Addr)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	default:
		return nil, fmt.Errorf("admin: unknown network %q", cfg.Network)
	}
	s := &Server{cfg: cfg, health: health.NewServer()}
	opts = append(opts,
		grpc.ChainUnaryInterceptor(s.unaryAuth, unaryErrors),
		grpc.ChainStreamInterceptor(s.streamAuth, streamErrors),
	)
	s.grpc = grpc.NewServer(opts...)
	adminv1.RegisterAdminServiceServer(s.grpc, svc)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus(adminv1.AdminService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// Listen opens the admin listener. A stale unix socket is replaced; the
// socket is made accessible to its owner only.
func (s *Server) Listen() (net.Listener, error) {
	if s.cfg.Network == "unix" {
		if err := os.MkdirAll(filepath.Dir(s.cfg.Addr), 0o755); err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		if c, err := net.Dial("unix", s.cfg.Addr); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("admin: %s: another daemon is listening", s.cfg.Addr)
		}
		_ = os.Remove(s.cfg.Addr)
		lis, err := net.Listen("unix", s.cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("admin: listen %s: %w", s.cfg.Addr, err)
		}
		if err := os.Chmod(s.cfg.Addr, 0o600); err != nil {
			_ = lis.Close()
			return nil, fmt.Errorf("admin: %w", err)
		}
		return lis, nil
	}
	lis, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", s.cfg.Addr, err)
	}
	return lis, nil
}

// Serve serves on lis until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	select {
	case <-ctx.Done():
		s.health.Shutdown()
		s.grpc.Stop()
		<-errc
		if s.cfg.Network == "unix" {
			_ = os.Remove(s.cfg.Addr)
		}
		return nil
	case err := <-errc:
		return fmt.Errorf("admin: serve: %w", err)
	}
}

// authorize checks, on a tcp listener, that the client presented an
// operator certificate (a site certificate does not administer sites).
func (s *Server) authorize(ctx context.Context) error {
	if s.cfg.Network != "tcp" {
		return nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "admin: no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 {
		return status.Error(codes.Unauthenticated, "admin: an operator certificate is required")
	}
	name, err := s.cfg.OperatorOf(info.State.PeerCertificates[0])
	if err != nil {
		return status.Errorf(codes.PermissionDenied, "admin: not an operator certificate: %v", err)
	}
	s.cfg.Logger.Debug("admin call", "operator", name)
	return nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if isHealthOrReflection(info.FullMethod) {
		return h(ctx, req)
	}
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if isHealthOrReflection(info.FullMethod) {
		return h(srv, ss)
	}
	if err := s.authorize(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

func isHealthOrReflection(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.") || strings.HasPrefix(method, "/grpc.reflection.")
}

func unaryErrors(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	return resp, toStatus(err)
}

func streamErrors(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return toStatus(h(srv, ss))
}
