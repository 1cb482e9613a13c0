// Package corelink gives the adapters' toolkit (internal/transport) the few
// things it needs of a core.Hub that apps never call. Package core sets these
// variables when it is initialized, the way gRPC links its internal package,
// so they stay out of core's documentation.
package corelink

import "context"

var (
	// Takeover reports whether hub, a *core.Hub, lets adapters take
	// connections over (core.WithTakeover).
	Takeover func(hub any) bool

	// AppPanicked counts and logs, on hub, a panic p in app code that an
	// adapter ran (a topic function).
	AppPanicked func(hub any, p any)

	// ServeOwned serves sub, a *core.Subscriber, on stream (a core.Stream
	// and io.Closer) on a goroutine its hub owns, and closes stream after:
	// Shutdown waits for both.
	ServeOwned func(ctx context.Context, sub any, stream any)
)
