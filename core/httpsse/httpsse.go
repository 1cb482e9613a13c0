package httpsse

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/transport"
)

// Config holds what only the app can decide about a request. The zero Config
// is ready to use: every field has a default.
type Config struct {
	// Topics returns the topics a request subscribes to: from the path, the
	// query, or what an auth middleware put on the request's context. The
	// client gets these topics and no others. Return an error to refuse:
	// core.Reject(status, message) chooses the answer, any other error is
	// 403 Forbidden. A panic is 500.
	// Default: the request's path, as one topic.
	Topics func(r *http.Request) ([]string, error)
	// Meta returns an app value kept with the subscriber (core.Subscriber.Meta),
	// for hooks: a user id, say.
	// Default: nil.
	Meta func(r *http.Request) any
	// ClientAddr returns the client's address for
	// core.WithMaxSubscribersPerClient. Behind a proxy, return the address
	// the proxy reports.
	// Default: the host of r.RemoteAddr.
	ClientAddr func(r *http.Request) string
}

// Topics returns a Config.Topics function that always subscribes to names.
func Topics(names ...string) func(*http.Request) ([]string, error) {
	names = append([]string(nil), names...)
	return func(*http.Request) ([]string, error) { return names, nil }
}

// New returns middleware that serves a request as an event stream on hub when
// its Accept header asks for text/event-stream (core.AcceptsEventStream), and
// otherwise passes it to next. So one URL can answer fetch with JSON and
// EventSource with live events:
//
//	mux.Handle("GET /visitors", httpsse.New(hub)(visitorsJSON))
func New(hub *core.Hub, config ...Config) func(next http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			transport.VaryAccept(w.Header()) // the stream, the JSON and refusals alike
			if !core.AcceptsEventStream(r.Header.Get("Accept")) {
				next.ServeHTTP(w, r)
				return
			}
			Serve(w, r, hub, config...)
		})
	}
}

// Handler returns a handler that serves every request as an event stream,
// whatever its Accept header, for URLs that only stream.
func Handler(hub *core.Hub, config ...Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(w, r, hub, config...)
	})
}

// Serve serves r as an event stream on hub: it subscribes, answers a refused
// subscription with its status (503 with Retry-After, 400, or the topic
// function's), and otherwise streams until the stream ends. An HTTP/1.1
// stream is taken over (core.WithTakeover): Serve then returns at once, and
// the hub writes the stream on a goroutine of its own.
func Serve(w http.ResponseWriter, r *http.Request, hub *core.Hub, config ...Config) {
	var cfg Config
	if len(config) > 0 {
		cfg = config[0]
	}
	sub, err := transport.Subscribe(hub, func() (core.Subscription, error) {
		topics, err := topicsOf(cfg, r)
		if err != nil {
			return core.Subscription{}, err
		}
		s := core.Subscription{
			Topics:      topics,
			LastEventID: transport.LastEventID(r.Header.Get("Last-Event-ID"), r.URL.Query().Get),
			ClientAddr:  clientAddr(r),
		}
		if cfg.ClientAddr != nil {
			s.ClientAddr = cfg.ClientAddr(r)
		}
		if cfg.Meta != nil {
			s.Meta = cfg.Meta(r)
		}
		return s, nil
	})
	h := w.Header()
	if err != nil {
		status, body := transport.Refusal(err)
		if status == http.StatusServiceUnavailable { // come back later, and free the socket now
			h.Set("Retry-After", transport.RetryAfter())
			h.Set("Connection", "close")
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		w.Write([]byte(body))
		return
	}
	for _, kv := range transport.Headers {
		h.Set(kv[0], kv[1])
	}
	h.Del("Content-Length")
	if r.ProtoMajor == 1 {
		h.Set("Connection", "keep-alive") // forbidden in HTTP/2
	}
	if r.ProtoMajor == 1 && h.Get("Content-Encoding") == "" && transport.Takeover(hub) && takeOver(w, r, sub) {
		return
	}
	w.WriteHeader(http.StatusOK)
	sub.Serve(r.Context(), newStream(w))
}

func topicsOf(cfg Config, r *http.Request) ([]string, error) {
	if cfg.Topics == nil {
		return []string{r.URL.Path}, nil
	}
	return cfg.Topics(r)
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// takeOver hijacks the connection and hands the stream to the hub, which
// writes the response head itself, so net/http's goroutine and buffers are
// released (see core.WithTakeover). The response is chunked HTTP/1.1, as
// net/http's is.
func takeOver(w http.ResponseWriter, r *http.Request, sub *core.Subscriber) bool {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	head := transport.Head(func(yield func(k, v string)) {
		for k, vs := range w.Header() {
			for _, v := range vs {
				yield(k, v)
			}
		}
	}, r.ProtoAtLeast(1, 1))
	transport.ServeConn(context.Background(), sub, conn, head)
	return true
}

// Shutdown shuts srv and hub down together, in the only order that works: an
// SSE stream never goes idle, so srv.Shutdown alone would wait for it until
// ctx ends. The hub ends every stream (after its shutdown event) while srv
// stops accepting and waits for its other connections; Shutdown returns when
// both are done, or when ctx ends, with their errors joined.
func Shutdown(ctx context.Context, srv *http.Server, hub *core.Hub) error {
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Shutdown(ctx) }() // bounded by ctx
	err := srv.Shutdown(ctx)
	return errors.Join(err, <-hubDone)
}
