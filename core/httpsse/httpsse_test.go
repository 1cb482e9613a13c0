package httpsse_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/httpsse"
	"github.com/ssehub/ssehub/internal/ssetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newMux builds the routes of ssetest.Target on a standard library mux.
func newMux(hub *core.Hub) *http.ServeMux {
	mux := http.NewServeMux()
	news := httpsse.Config{Topics: httpsse.Topics("news")}
	snapshot := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]bool{"snapshot": true})
	})
	mux.Handle("GET /live", httpsse.New(hub, news)(snapshot))
	mux.Handle("GET /only", httpsse.Handler(hub, news))
	mux.Handle("GET /users/{user}/events", auth(httpsse.Handler(hub, httpsse.Config{
		Topics: func(r *http.Request) ([]string, error) {
			if r.Context().Value(userKey{}) != r.PathValue("user") {
				return nil, core.Reject(http.StatusForbidden, "not yours")
			}
			return []string{"user:" + r.PathValue("user")}, nil
		},
	})))
	mux.Handle("GET /panic", httpsse.Handler(hub, httpsse.Config{
		Topics: func(*http.Request) ([]string, error) { panic("app bug") },
	}))
	mux.Handle("GET /many", httpsse.Handler(hub, httpsse.Config{
		Topics: func(*http.Request) ([]string, error) {
			var ts []string
			for i := range 100 {
				ts = append(ts, strconv.Itoa(i))
			}
			return ts, nil
		},
	}))
	mux.Handle("GET /rooms/{room}", httpsse.Handler(hub, httpsse.Config{
		Topics: func(r *http.Request) ([]string, error) { return []string{"room:" + r.PathValue("room")}, nil },
	}))
	return mux
}

type userKey struct{}

// auth is an app's auth middleware: it puts the user on the request's context.
func auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, r.Header.Get("X-User"))))
	})
}

func newTarget(t *testing.T, opts ...core.Option) *ssetest.Target {
	hub := core.NewHub(opts...)
	srv := httptest.NewServer(newMux(hub))
	shutdown := func(ctx context.Context) error {
		err := httpsse.Shutdown(ctx, srv.Config, hub) // the documented way
		srv.Close()
		return err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown(ctx)
	})
	return &ssetest.Target{URL: srv.URL, Hub: hub, Shutdown: shutdown, GoneBound: 1500 * time.Millisecond}
}

func TestSuite(t *testing.T) { ssetest.Run(t, newTarget) }

// TestSuite_NoTakeover runs the suite with every stream kept inside net/http.
func TestSuite_NoTakeover(t *testing.T) {
	ssetest.Run(t, func(t *testing.T, opts ...core.Option) *ssetest.Target {
		return newTarget(t, append(opts, core.WithTakeover(false))...)
	})
}

func TestSoak(t *testing.T) { ssetest.Soak(t, newTarget) }

// TestDefaultTopicIsThePath: with no Topics function, a stream's topic is
// its request's path.
func TestDefaultTopicIsThePath(t *testing.T) {
	hub := core.NewHub()
	url := ssetest.Serve(t, hub, httpsse.Handler(hub))
	c := ssetest.Open(t, url+"/prices/eur")
	ssetest.WaitFor(t, 5*time.Second, "subscriber", func() bool { return hub.Subscribers("/prices/eur") == 1 })
	ssetest.Publish(t, hub, core.Event{Data: "1.08"}, "/prices/eur")
	if e := c.Next(); e.Data != "1.08" {
		t.Fatalf("got %+v", e)
	}
}

// TestOutOfFiles: a net/http app whose process runs out of file descriptors
// keeps serving: refusals past the hub's default cap, then streams again.
func TestOutOfFiles(t *testing.T) {
	ssetest.OutOfFiles(t, func(hub *core.Hub) (string, func(context.Context) error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: httpsse.Handler(hub), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln) // returns once Shutdown closes ln
		return "http://" + ln.Addr().String(), func(ctx context.Context) error { return httpsse.Shutdown(ctx, srv, hub) }
	})
}
