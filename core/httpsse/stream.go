package httpsse

import (
	"net/http"
	"reflect"
	"time"
)

// stream is the core.Stream of one response. Bytes go through the top of the
// writer chain (a framework's writer, or a compression middleware's, which
// then compresses each batch and flushes it on). Errors and deadlines need
// the connection itself: a wrapper's Flush returns no error (gin's does not),
// so after flushing the chain, stream asks the innermost writer (net/http's),
// whose FlushError reports a failed write, and sets deadlines there.
type stream struct {
	top      http.ResponseWriter
	flushTop func()
	inner    *http.ResponseController
	flush    func() error
}

func newStream(w http.ResponseWriter) *stream {
	inner := innermost(w)
	s := &stream{top: w, flushTop: func() {}, inner: http.NewResponseController(inner), flush: func() error { return nil }}
	if f, ok := w.(http.Flusher); ok {
		s.flushTop = f.Flush
	}
	if fe, ok := inner.(interface{ FlushError() error }); ok {
		s.flush = fe.FlushError
	}
	return s
}

func (s *stream) Write(p []byte) (int, error) { return s.top.Write(p) }

func (s *stream) Flush() error {
	s.flushTop()     // through every layer, headers first
	return s.flush() // the connection's own result
}

func (s *stream) SetWriteDeadline(t time.Time) error { return s.inner.SetWriteDeadline(t) }

// innermost unwraps w to the server's own writer: through Unwrap methods, and
// through wrappers that only embed the writer they wrap (as gin-contrib/gzip's
// does), which would otherwise hide the connection's deadline and errors.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for range 16 {
		if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
			w = u.Unwrap()
			continue
		}
		next := embeddedWriter(w)
		if next == nil {
			return w
		}
		w = next
	}
	return w
}

var writerType = reflect.TypeFor[http.ResponseWriter]()

func embeddedWriter(w http.ResponseWriter) http.ResponseWriter {
	v := reflect.ValueOf(w)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Anonymous && f.IsExported() && f.Type.Kind() == reflect.Interface && f.Type.Implements(writerType) {
			if inner, ok := v.Field(i).Interface().(http.ResponseWriter); ok && inner != nil {
				return inner
			}
		}
	}
	return nil
}
