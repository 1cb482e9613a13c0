package redisbroker

import "errors"

// Errors returned by the Broker. Hub.Publish wraps them with %w, so an app
// matches them with errors.Is on what Publish returns.
var (
	// ErrClosed is returned by Publish and Subscribe once Close has been called.
	ErrClosed = errors.New("redisbroker: closed")

	// ErrUnavailable is returned when Redis did not do what was asked: it is
	// down or unreachable, timed out, or refused the command. A Publish that
	// fails with it may or may not have published the event (the reply was
	// lost), and is never retried by the broker, so it is never published twice.
	// The error also wraps the cause.
	ErrUnavailable = errors.New("redisbroker: Redis unavailable")
)
