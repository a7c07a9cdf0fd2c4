package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rallyvoip/rally/core/config"
	"github.com/rallyvoip/rally/core/pki"
	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

// errNoAdmin is returned when no admin address was given in any way.
var errNoAdmin = errors.New("no admin address: use --admin, --config or " + envAdmin)

// adminEndpoint is a resolved admin API address and the operator TLS files
// for a remote one.
type adminEndpoint struct {
	network string // "unix" or "tcp"
	addr    string // socket path or host:port
	source  string // where the address came from, for error messages

	ca, cert, key string
	// configFile is set when a site config was given.
	configFile string
	// site, when known (the address came from a site config), is the site
	// the remote admin API must prove to be.
	site string
}

// parseAdmin splits an admin address: unix:///abs/path.sock (or
// unix:relative/path) for a local socket, host:port for a remote one.
func parseAdmin(s string) (network, addr string, err error) {
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return "", "", fmt.Errorf("admin address %q: empty socket path", s)
		}
		return "unix", path, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		return "", "", fmt.Errorf("admin address %q: want unix:///path.sock or host:port", s)
	}
	_ = host // an empty host means the local host, as for net.Dial
	return "tcp", s, nil
}

// resolveAdmin finds the admin address: --admin, else --config, else
// $RALLY_ADMIN. A site config, when given, also supplies the CA; --cert,
// --key and --ca override it.
func (f *globalFlags) resolveAdmin() (adminEndpoint, error) {
	var ep adminEndpoint
	if f.config != "" {
		cfg, err := config.Load(f.config)
		if err != nil {
			return ep, err // config errors name the file and key
		}
		ep.network, ep.addr = cfg.AdminNetwork()
		ep.source = "admin in " + f.config
		ep.ca = cfg.TLS.CA
		ep.configFile = f.config
		ep.site = cfg.Site
	}
	switch {
	case f.admin != "":
		n, a, err := parseAdmin(f.admin)
		if err != nil {
			return ep, fmt.Errorf("--admin: %w", err)
		}
		ep.network, ep.addr, ep.source = n, a, "--admin"
		ep.site = ""
	case ep.addr != "":
		// from --config
	default:
		env := os.Getenv(envAdmin)
		if env == "" {
			return ep, errNoAdmin
		}
		n, a, err := parseAdmin(env)
		if err != nil {
			return ep, fmt.Errorf("%s: %w", envAdmin, err)
		}
		ep.network, ep.addr, ep.source = n, a, envAdmin
	}
	if f.ca != "" {
		ep.ca = f.ca
	}
	ep.cert, ep.key = f.cert, f.key
	return ep, nil
}

// target and credentials for grpc.NewClient.
func (ep adminEndpoint) dialOptions() (string, credentials.TransportCredentials, error) {
	if ep.network == "unix" {
		path, err := filepath.Abs(ep.addr)
		if err != nil {
			return "", nil, err
		}
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return "", nil, fmt.Errorf("admin socket %s (%s) does not exist: is the site daemon (rally serve) running?", path, ep.source)
			}
			return "", nil, fmt.Errorf("admin socket: %w", err)
		}
		return "unix://" + path, insecure.NewCredentials(), nil
	}
	var missing []string
	if ep.cert == "" {
		missing = append(missing, "--cert")
	}
	if ep.key == "" {
		missing = append(missing, "--key")
	}
	if ep.ca == "" {
		missing = append(missing, "--ca")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("remote admin address %s (%s) requires operator mutual TLS: missing %s",
			ep.addr, ep.source, strings.Join(missing, ", "))
		if ep.cert == "" || ep.key == "" {
			msg += " (issue one with: rally pki issue --dir DIR --operator NAME"
			if ep.configFile != "" {
				msg += "; the site certificate in " + ep.configFile + " cannot administer a site"
			}
			msg += ")"
		}
		return "", nil, errors.New(msg)
	}
	tlsCfg, err := pki.ClientConfig(ep.ca, ep.cert, ep.key)
	if err != nil {
		return "", nil, fmt.Errorf("operator TLS: %w", err)
	}
	// ClientConfig checks the chain; also check WHO answers: a site, and
	// the one the config names when the address came from it.
	verifyChain := tlsCfg.VerifyConnection
	tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verifyChain(cs); err != nil {
			return err
		}
		name, err := pki.SiteFromCert(cs.PeerCertificates[0])
		if err != nil {
			return fmt.Errorf("admin API at %s: %w", ep.addr, err)
		}
		if ep.site != "" && name != ep.site {
			return fmt.Errorf("admin API at %s is site %q, not %q as %s says", ep.addr, name, ep.site, ep.configFile)
		}
		return nil
	}
	return "passthrough:///" + ep.addr, credentials.NewTLS(tlsCfg), nil
}

// adminClient connects to the site's admin API. The returned function
// closes the connection.
func (f *globalFlags) adminClient(ctx context.Context) (adminv1.AdminServiceClient, func() error, error) {
	_ = ctx // grpc.NewClient connects lazily; calls carry their own contexts
	ep, err := f.resolveAdmin()
	if err != nil {
		return nil, nil, err
	}
	target, creds, err := ep.dialOptions()
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, nil, fmt.Errorf("admin API %s: %w", ep.addr, err)
	}
	return adminv1.NewAdminServiceClient(conn), conn.Close, nil
}

// callContext bounds one unary admin call by --timeout.
func (f *globalFlags) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.timeout > 0 {
		return context.WithTimeout(ctx, f.timeout)
	}
	return context.WithCancel(ctx)
}

// rpcError wraps a failed admin call as "op: message", keeping the gRPC
// status reachable through errors.As / status.Code.
type rpcError struct {
	op  string
	err error
}

func (e *rpcError) Unwrap() error { return e.err }

func (e *rpcError) Error() string {
	st, ok := status.FromError(e.err)
	if !ok {
		return e.op + ": " + e.err.Error()
	}
	switch st.Code() {
	case codes.Unavailable:
		if !isTransportFailure(st.Message()) {
			// the daemon answered: something it needs is unavailable
			return e.op + ": " + st.Message()
		}
		msg := transportDetail(st.Message())
		if m, ok := strings.CutPrefix(msg, "transport: authentication handshake failed: "); ok {
			return e.op + ": admin API unavailable: TLS handshake failed: " + m
		}
		return e.op + ": admin API unavailable: " + msg
	case codes.DeadlineExceeded:
		return e.op + ": timed out (see --timeout): " + st.Message()
	case codes.Unauthenticated, codes.PermissionDenied:
		return e.op + ": " + st.Message() + " (" + st.Code().String() + ")"
	case codes.Unimplemented:
		return e.op + ": not supported by this daemon: " + st.Message()
	default:
		return e.op + ": " + st.Message()
	}
}

// isTransportFailure tells grpc's own "could not reach or lost the server"
// errors from an Unavailable status the daemon returned.
func isTransportFailure(msg string) bool {
	for _, s := range []string{"connection error", "transport", "error reading from server", "connection closed", "name resolver"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transportDetail unwraps grpc's `connection error: desc = "..."`.
func transportDetail(msg string) string {
	_, desc, ok := strings.Cut(msg, "desc = ")
	if !ok {
		return msg
	}
	if u, err := strconv.Unquote(desc); err == nil {
		return u
	}
	return msg
}

func wrapRPC(op string, err error) error {
	if err == nil {
		return nil
	}
	return &rpcError{op: op, err: err}
}
