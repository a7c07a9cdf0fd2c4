package cli

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"

	adminv1 "github.com/rallyvoip/rally/proto/rally/admin/v1"
)

func newStatusCmd(f *globalFlags) *cobra.Command {
	var asJSON, watch bool
	cmd := &cobra.Command{
		Use:   "status [--json] [--watch]",
		Short: "Show this site and its peers: state, heartbeat, resilience, revisions",
		Long: `status shows the site that answers (licensed and guest registrations,
directory revision, who backs it up) and each linked peer as seen from it:
state (connecting, normal, suspect, failover, failback_pending,
incompatible), relation, resilience for a backed-up home (inactive, active,
lost), heartbeat age, the peer revision held here and the peer's own.

--watch then prints one line per state change until interrupted; with
--json every object (the status first, then each event) is one line.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, closeConn, err := f.adminClient(cmd.Context())
			if err != nil {
				return err
			}
			defer closeConn()
			p := f.newPrinter(cmd.OutOrStdout(), asJSON, watch)
			if !watch {
				st, err := f.getStatus(cmd.Context(), client)
				if err != nil {
					return err
				}
				return p.status(st)
			}
			return f.watchStatus(cmd.Context(), client, p)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (schema in the package documentation)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "after the status, print state-change events until interrupted")
	return cmd
}

func (f *globalFlags) getStatus(ctx context.Context, client adminv1.AdminServiceClient) (*adminv1.GetStatusResponse, error) {
	ctx, cancel := f.callContext(ctx)
	defer cancel()
	st, err := client.GetStatus(ctx, &adminv1.GetStatusRequest{})
	return st, wrapRPC("status", err)
}

// watchStatus prints the status, then every event until ctx ends (nil) or
// the daemon ends the stream (nil on a clean end, an error otherwise). The
// event stream is opened before the status is read so that no change
// between the two is lost (one may be shown twice).
func (f *globalFlags) watchStatus(ctx context.Context, client adminv1.AdminServiceClient, p printer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.WatchEvents(ctx, &adminv1.WatchEventsRequest{})
	if err != nil {
		return wrapRPC("status --watch", err)
	}
	st, err := f.getStatus(ctx, client)
	if err != nil {
		return err
	}
	if err := p.status(st); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		switch {
		case ctx.Err() != nil:
			return nil // interrupted: the normal way to stop watching
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return wrapRPC("status --watch", err)
		}
		if resp.GetEvent() == nil {
			continue
		}
		if err := p.event(resp.GetEvent()); err != nil {
			return err
		}
	}
}
