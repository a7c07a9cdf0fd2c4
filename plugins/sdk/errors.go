package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// Errors cross the process boundary as gRPC statuses. The sentinels of this
// package travel as codes, the message as it is:
//
//	ErrInvalidConfig  ↔ InvalidArgument
//	ErrNotFound       ↔ NotFound
//	context.Canceled / context.DeadlineExceeded → Canceled / DeadlineExceeded
//	anything else     → Unknown
//
// An implementation's error that already carries a gRPC status keeps its
// code, but Unavailable is reserved for the transport: it becomes Unknown.
var sentinelCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalidConfig, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
}

// toStatus turns an error of an implementation (a Plugin in the plugin
// process, a Host in the host) into the error a gRPC handler returns.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		// Already a status (a remoteError passed on, or an implementation
		// that speaks gRPC): keep its code and message (the whole
		// err.Error() when err wraps it), except Unavailable, which is
		// kept for the transport (pluginErr reads it as "the plugin is
		// gone").
		code := st.Code()
		if code == codes.Unavailable {
			code = codes.Unknown
		}
		return status.Error(code, st.Message())
	}
	for _, s := range sentinelCodes {
		if errors.Is(err, s.err) {
			return status.Error(s.code, err.Error())
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// remoteError is an error that came back over gRPC. Its message is the
// remote error's message (without gRPC's "rpc error: code = ..." prefix),
// it unwraps to the sentinel of its code, and status.Code still sees its
// code.
type remoteError struct {
	st       *status.Status
	sentinel error
}

func (e *remoteError) Error() string              { return e.st.Message() }
func (e *remoteError) Unwrap() error              { return e.sentinel }
func (e *remoteError) GRPCStatus() *status.Status { return e.st }

// fromStatus turns the error of a gRPC call made with ctx back into a
// domain error: ctx's own error when ctx ended, a remoteError otherwise.
// deadlineSlack: a call ended by the other end this close to ctx's
// deadline ended because of it.
const deadlineSlack = 20 * time.Millisecond

func fromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded:
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s", ctx.Err(), st.Message())
		}
		// The other end times the call out on the deadline it was sent,
		// and its reset can arrive a moment before ctx's own timer fires.
		if d, ok := ctx.Deadline(); ok && time.Until(d) <= deadlineSlack {
			return fmt.Errorf("%w: %s", context.DeadlineExceeded, st.Message())
		}
	}
	re := &remoteError{st: st}
	for _, s := range sentinelCodes {
		if s.code == st.Code() {
			re.sentinel = s.err
		}
	}
	return re
}

// pluginErr is fromStatus for the host's client of a plugin: a call that
// failed because the plugin is gone returns ErrPluginShutdown, as in
// Nomad's grpcutils. The plugin is gone when go-plugin cancelled doneCtx
// (the process exited), when the connection was closed (the host killed
// it), or when the transport says Unavailable (over go-plugin's local
// socket that means the process is not there).
func pluginErr(ctx, doneCtx context.Context, conn *grpc.ClientConn, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable, codes.Canceled:
		if doneCtx.Err() != nil || conn.GetState() == connectivity.Shutdown || st.Code() == codes.Unavailable {
			return fmt.Errorf("%w: %s", ErrPluginShutdown, st.Message())
		}
	}
	return fromStatus(ctx, err)
}
