package httpsse_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/httpsse"
)

// One URL on the standard library's mux: fetch gets JSON, EventSource the
// live stream.
func ExampleNew() {
	hub := core.NewHub()
	mux := http.NewServeMux()
	pricesJSON := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"price":42}`)
	})
	mux.Handle("GET /prices", httpsse.New(hub, httpsse.Config{Topics: httpsse.Topics("prices")})(pricesJSON))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer httpsse.Shutdown(context.Background(), srv.Config, hub) // the streams end, then the server stops

	resp, err := http.Get(srv.URL + "/prices")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body), resp.Header.Get("Vary"))

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/prices", nil)
	req.Header.Set("Accept", "text/event-stream") // as EventSource sends it
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	hub.Publish(core.Event{Type: "price", Data: "43"}, "prices")
	e, _ := core.NewDecoder(resp.Body).Next()
	fmt.Println(e.Type, e.Data)
	// Output:
	// {"price":42} Accept
	// price 43
}
