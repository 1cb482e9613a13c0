package core

import (
	"context"
	"io"

	"github.com/ssehub/ssehub/internal/corelink"
)

// The adapters' toolkit reaches the hub through corelink, so that what only
// adapters need stays out of this package's API.
func init() {
	corelink.Takeover = func(h any) bool { return h.(*Hub).opt.takeover }
	corelink.AppPanicked = func(h any, p any) { h.(*Hub).appPanicked("topic function", p) }
	corelink.ServeOwned = func(ctx context.Context, sub, stream any) {
		sub.(*Subscriber).serveOwned(ctx, stream.(interface {
			Stream
			io.Closer
		}))
	}
}

// serveOwned serves s on w on a goroutine of the hub's, then closes w.
// Shutdown waits for it: s counts as a stream until Serve returns, and the
// hub's owned group covers the close after.
func (s *Subscriber) serveOwned(ctx context.Context, w interface {
	Stream
	io.Closer
}) {
	h := s.hub
	h.owned.Add(1)
	go func() {
		defer h.owned.Done()
		s.Serve(ctx, w)
		w.Close()
	}()
}
