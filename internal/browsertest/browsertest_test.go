package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheckLocal(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:8080/":         true,
		"http://127.0.0.1/x?y=z":         true,
		"https://127.0.0.1/":             true,
		"https://127.0.0.1:8443/x":       true,
		"https://localhost:8443/":        false,
		"ftp://127.0.0.1/":               false,
		"ws://127.0.0.1/":                false,
		"http://localhost:8080/":         false,
		"http://example.com/":            false,
		"http://127.0.0.1.example.com/":  false,
		"http://user@example.com:80/":    false,
		"file:///etc/passwd":             false,
		"javascript:alert(1)":            false,
		"about:blank":                    false,
		"http://[::1]:8080/":             false,
		"http://127.0.0.1@example.com/":  false,
		"//127.0.0.1/protocol-relative":  false,
		"http://127.0.0.1:8080/#x":       true,
		"HTTP://127.0.0.1:8080/upper":    true,
		"http://127.0.0.1:8080/%zz":      false,
		"http://127.0.0.2/other-address": false,
	} {
		if err := CheckLocal(u); (err == nil) != ok {
			t.Errorf("CheckLocal(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}

// TestBrowser: tabs of NewTab share cookies; a NewIsolatedTab has its own.
func TestBrowser(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "who", Value: r.URL.Query().Get("v"), Path: "/"})
		fmt.Fprint(w, "<p id=out>set</p>")
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("who")
		v := "none"
		if c != nil {
			v = c.Value
		}
		fmt.Fprintf(w, "<p id=out>%s</p>", v)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := New(t)
	one := b.NewTab(t, "one")
	one.Navigate(srv.URL + "/set?v=one")
	two := b.NewTab(t, "two")
	two.Navigate(srv.URL + "/get")
	if got := two.Text("#out"); got != "one" {
		t.Errorf("a second tab sees cookie %q, want the first tab's", got)
	}
	other := b.NewIsolatedTab(t, "other")
	other.Navigate(srv.URL + "/get")
	if got := other.Text("#out"); got != "none" {
		t.Errorf("an isolated tab sees cookie %q, want none", got)
	}
	other.WaitFor(`document.getElementById("out").textContent === "none"`, 0)
	if _, err := other.Poll(`false`, 50*time.Millisecond); err == nil {
		t.Error("Poll of false returned no error")
	}
	if n := Eval[int](one, `6 * 7`); n != 42 {
		t.Errorf("Eval = %d", n)
	}
	two.Close()
	two.Close() // twice is fine
}
