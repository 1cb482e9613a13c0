package core

import (
	"errors"
	"fmt"
	"net/http"
)

// A RejectError refuses a subscription with an HTTP status. Return one from an
// adapter's topic function to choose the status the client gets; any other
// error from it means 403 Forbidden.
type RejectError struct {
	Status  int    // an HTTP status code, 4xx or 5xx
	Message string // the short response body
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("ssehub: subscription rejected (%d): %s", e.Status, e.Message)
}

// Reject returns a *RejectError.
func Reject(status int, message string) error {
	return &RejectError{Status: status, Message: message}
}

// RetryAfterSeconds is the Retry-After adapters send with 503.
const RetryAfterSeconds = "5"

// HTTPStatus maps an error from Subscribe (or an adapter's topic function) to
// the response an adapter sends: the status and a short body. 503 answers
// come with Retry-After (RetryAfterSeconds). Browsers' EventSource does not
// reconnect after a non-200 answer; pages that want to retry re-create it.
func HTTPStatus(err error) (status int, body string) {
	var rej *RejectError
	switch {
	case errors.As(err, &rej):
		if rej.Status < 400 || rej.Status > 599 {
			return http.StatusForbidden, rej.Message
		}
		return rej.Status, rej.Message
	case errors.Is(err, ErrTooManySubscribers):
		return http.StatusServiceUnavailable, "too many subscribers, retry later"
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, "shutting down, retry later"
	case errors.Is(err, ErrTooManyTopics), errors.Is(err, ErrInvalidTopic), errors.Is(err, ErrNoTopics):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrTopicsPanic):
		return http.StatusInternalServerError, "subscription failed"
	}
	return http.StatusForbidden, "forbidden"
}

// ErrTopicsPanic reports a topic function that panicked; HTTPStatus maps it to 500.
var ErrTopicsPanic = errors.New("ssehub: topic function panicked")

// CallTopicsFunc runs an adapter's topic function for the request c, turning
// a panic into an error wrapping ErrTopicsPanic (logged on the hub), so that a
// bug in app code ends that request and nothing else.
func CallTopicsFunc[C any](h *Hub, fn func(C) ([]string, error), c C) (topics []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			h.stats.hookPanics.Add(1)
			h.opt.logger.Warn("ssehub: panic in topic function", "panic", p)
			topics, err = nil, fmt.Errorf("%w: %v", ErrTopicsPanic, p)
		}
	}()
	return fn(c)
}
