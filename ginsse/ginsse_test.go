package ginsse_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/ginsse"
	"github.com/ssehub/ssehub/internal/ssetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

// newApp builds the routes of ssetest.Target on a gin engine.
func newApp(hub *core.Hub) *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery())
	news := ginsse.Config{Topics: ginsse.Topics("news")}
	r.GET("/live", ginsse.New(hub, news), func(c *gin.Context) { c.JSON(200, gin.H{"snapshot": true}) })
	r.GET("/only", ginsse.Handler(hub, news))
	auth := func(c *gin.Context) { c.Set("user", c.GetHeader("X-User")) }
	r.GET("/users/:user/events", auth, ginsse.Handler(hub, ginsse.Config{
		Topics: func(c *gin.Context) ([]string, error) {
			if c.GetString("user") != c.Param("user") {
				return nil, core.Reject(http.StatusForbidden, "not yours")
			}
			return []string{"user:" + c.Param("user")}, nil
		},
	}))
	r.GET("/panic", ginsse.Handler(hub, ginsse.Config{
		Topics: func(*gin.Context) ([]string, error) { panic("app bug") },
	}))
	r.GET("/many", ginsse.Handler(hub, ginsse.Config{
		Topics: func(*gin.Context) ([]string, error) {
			var ts []string
			for i := range 100 {
				ts = append(ts, strconv.Itoa(i))
			}
			return ts, nil
		},
	}))
	r.GET("/rooms/:room", ginsse.Handler(hub, ginsse.Config{
		Topics: func(c *gin.Context) ([]string, error) { return []string{"room:" + c.Param("room")}, nil },
	}))
	return r
}

func newTarget(t *testing.T, opts ...core.Option) *ssetest.Target {
	hub := core.NewHub(opts...)
	srv := httptest.NewServer(newApp(hub))
	shutdown := func(ctx context.Context) error {
		err := ginsse.Shutdown(ctx, srv.Config, hub) // the documented way
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

func TestSoak(t *testing.T) { ssetest.Soak(t, newTarget) }

// TestSuite_NoTakeover runs the suite with every stream kept inside the
// framework (core.WithTakeover(false)).
func TestSuite_NoTakeover(t *testing.T) {
	ssetest.Run(t, func(t *testing.T, opts ...core.Option) *ssetest.Target {
		return newTarget(t, append(opts, core.WithTakeover(false))...)
	})
}

// TestOutOfFiles: a gin app whose process runs out of file descriptors
// keeps serving: refusals past the hub's default cap, then streams again.
func TestOutOfFiles(t *testing.T) {
	ssetest.OutOfFiles(t, func(hub *core.Hub) (string, func(context.Context) error) {
		r := gin.New()
		r.GET("/:any", ginsse.Handler(hub, ginsse.Config{Topics: ginsse.Topics("t")}))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln) // returns once Shutdown closes ln
		return "http://" + ln.Addr().String(), func(ctx context.Context) error { return ginsse.Shutdown(ctx, srv, hub) }
	})
}
