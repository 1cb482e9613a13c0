package core

import "errors"

// Errors returned by the hub and by event encoding. Match them with errors.Is.
var (
	// ErrClosed is returned by Publish, Serve and Send once the hub is shut down.
	ErrClosed = errors.New("ssehub: hub closed")

	// ErrInvalidID reports an event id that cannot travel in an SSE stream and a
	// Last-Event-ID header: ids must be printable ASCII (0x20–0x7E), at most MaxIDLength bytes.
	ErrInvalidID = errors.New("ssehub: invalid event id")
	// ErrInvalidType reports an event type that contains CR or LF, which would break the frame.
	ErrInvalidType = errors.New("ssehub: invalid event type")
	// ErrInvalidRetry reports a retry duration that is negative or not a whole
	// number of milliseconds (the "retry:" field counts milliseconds).
	ErrInvalidRetry = errors.New("ssehub: invalid retry")

	// ErrTooManySubscribers is returned by Serve when the hub is at WithMaxSubscribers.
	// Adapters answer 503 with Retry-After.
	ErrTooManySubscribers = errors.New("ssehub: too many subscribers")
	// ErrTooManyTopics is returned by Serve when a subscription names more topics than
	// WithMaxTopicsPerSubscriber allows. Adapters answer 400.
	ErrTooManyTopics = errors.New("ssehub: too many topics")
	// ErrInvalidTopic is returned for an empty topic name, one longer than MaxTopicLength,
	// or one containing control characters.
	ErrInvalidTopic = errors.New("ssehub: invalid topic")
	// ErrNoTopics is returned by Serve for a subscription without topics and by Publish
	// without topics.
	ErrNoTopics = errors.New("ssehub: no topics")

	// ErrLagged ends a stream that fell further behind than its topic's history
	// (or its direct queue): the client reconnects and resumes with Last-Event-ID.
	ErrLagged = errors.New("ssehub: subscriber lagged behind")

	// ErrHook ends a stream whose hook (WithSnapshot, WithOnConnect) failed
	// or panicked; Serve returns it wrapped.
	ErrHook = errors.New("ssehub: hook failed")
)

// ErrInvalidData reports event data that is not valid UTF-8.
var ErrInvalidData = errors.New("ssehub: invalid event data")
