package core

import "fmt"

// A RejectError refuses a subscription with an HTTP status. Return one from an
// adapter's topic function to choose the status the client gets; any other
// error from it means 403 Forbidden. Browsers' EventSource does not reconnect
// after a refusal; a page that wants to retry creates a new one.
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
