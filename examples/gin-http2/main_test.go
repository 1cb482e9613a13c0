package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/internal/ssetest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	goleak.VerifyTestMain(m)
}

// An app is the example running on 127.0.0.1 as main runs it, and the
// protocol of each request it saw.
type app struct {
	hub  *core.Hub
	url  string
	leaf *x509.Certificate // the self-signed certificate, over TLS

	mu      sync.Mutex
	pages   []int // ProtoMajor of each GET /
	streams []int // ProtoMajor of each GET /clock
}

// start serves the example over TLS with a self-signed certificate made as
// main makes it, or over plain HTTP/1.1; it shuts down as main does when
// the test ends.
func start(t *testing.T, useTLS bool) *app {
	t.Helper()
	hub, r := newApp()
	a := &app{hub: hub}
	var tlsConfig *tls.Config
	if useTLS {
		cert, err := certificate("", "")
		if err != nil {
			t.Fatal(err)
		}
		if a.leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			t.Fatal(err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		a.mu.Lock()
		switch req.URL.Path {
		case "/":
			a.pages = append(a.pages, req.ProtoMajor)
		case "/clock":
			a.streams = append(a.streams, req.ProtoMajor)
		}
		a.mu.Unlock()
		r.ServeHTTP(w, req)
	})
	a.url = ssetest.Start(t, func(ctx context.Context, ln net.Listener) error { return serve(ctx, ln, h, hub, tlsConfig) })
	if useTLS {
		a.url = "https://" + strings.TrimPrefix(a.url, "http://")
	}
	return a
}

// seen returns the protocol versions of the page and stream requests so far.
func (a *app) seen() (pages, streams []int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int(nil), a.pages...), append([]int(nil), a.streams...)
}

// TestHTTP2 checks with Go's client what the browser test relies on: the
// certificate covers 127.0.0.1 and localhost, and the page and the stream
// are served over HTTP/2.
func TestHTTP2(t *testing.T) {
	a := start(t, true)
	for _, host := range []string{"127.0.0.1", "localhost", "::1"} {
		if err := a.leaf.VerifyHostname(host); err != nil {
			t.Errorf("the self-signed certificate: %v", err)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	resp, err := client.Get(a.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || !strings.Contains(string(body), `new EventSource("/clock")`) {
		t.Fatalf("GET /: %s %d %v, want the page over HTTP/2:\n%s", resp.Proto, resp.StatusCode, err, body)
	}

	c := ssetest.OpenWith(t, &http.Client{Transport: tr}, a.url+"/clock")
	if c.Resp.ProtoMajor != 2 || c.Resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /clock: %s %q, want an event stream over HTTP/2", c.Resp.Proto, c.Resp.Header.Get("Content-Type"))
	}
	ssetest.WaitSubscribers(t, a.hub, "clock", 1)
	ssetest.Publish(t, a.hub, core.Event{Type: "time", Data: "12:00:00"}, "clock")
	if e := c.Next(); e != (core.Event{Type: "time", Data: "12:00:00"}) {
		t.Errorf("event %+v, want time 12:00:00 without an id (the clock keeps no history)", e)
	}
	c.Close()
}

// TestCertificateFiles: -cert and -key load a certificate, and one without
// the other is an error.
func TestCertificateFiles(t *testing.T) {
	made, err := certificate("", "")
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(made.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: made.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := certificate(certFile, keyFile)
	if err != nil || len(loaded.Certificate) != 1 || string(loaded.Certificate[0]) != string(made.Certificate[0]) {
		t.Errorf("certificate(%q, %q) = %v, want the certificate written there", certFile, keyFile, err)
	}
	if _, err := certificate(certFile, ""); err == nil {
		t.Error("-cert without -key: no error")
	}
}

// TestTick: the clock publishes the time every second.
func TestTick(t *testing.T) {
	a := start(t, false)
	c := ssetest.OpenStream(t, a.url+"/clock")
	ssetest.WaitSubscribers(t, a.hub, "clock", 1)
	ctx, cancel := context.WithCancel(context.Background())
	ticked := make(chan struct{})
	go func() { defer close(ticked); tick(ctx, a.hub) }()
	e := c.Next()
	cancel()
	<-ticked
	if _, err := time.Parse(time.TimeOnly, e.Data); e.Type != "time" || err != nil {
		t.Errorf("event %+v, want the time", e)
	}
}

// openTabs opens n tabs of the page in one browser context, as one person's
// tabs: they share the browser's connections to the origin. It waits until
// each is live.
func openTabs(t *testing.T, b *browsertest.Browser, url string, n int) []*browsertest.Tab {
	t.Helper()
	tabs := make([]*browsertest.Tab, n)
	for i := range tabs {
		tabs[i] = b.NewTab(t, fmt.Sprintf("tab %d", i+1))
		tabs[i].Navigate(url)
		tabs[i].WaitFor(`document.getElementById("status").textContent === "live"`, 5*time.Second)
	}
	return tabs
}

// shows waits until the tab's clock shows text.
func shows(tab *browsertest.Tab, text string) {
	tab.WaitFor(`document.getElementById("time").textContent === "`+text+`"`, 5*time.Second)
}

// TestBrowserHTTP2: eight tabs of the page over HTTPS all stay live, since
// HTTP/2 carries every stream on one connection.
func TestBrowserHTTP2(t *testing.T) {
	a := start(t, true)
	b := browsertest.New(t, chromedp.Flag("ignore-certificate-errors", true)) // the self-signed certificate
	tabs := openTabs(t, b, a.url+"/", 8)
	ssetest.WaitSubscribers(t, a.hub, "clock", 8)
	ssetest.Publish(t, a.hub, core.Event{Type: "time", Data: "to all eight"}, "clock")
	for _, tab := range tabs {
		shows(tab, "to all eight")
		if p := browsertest.Eval[string](tab, `performance.getEntriesByType("navigation")[0].nextHopProtocol`); p != "h2" {
			t.Errorf("the page was loaded over %q, want h2", p)
		}
		if p := tab.Text("#proto"); p != "h2" {
			t.Errorf("the page shows protocol %q, want h2", p)
		}
	}
	pages, streams := a.seen()
	if len(pages) != 8 || len(streams) != 8 {
		t.Errorf("the server saw %d page and %d stream requests, want 8 of each", len(pages), len(streams))
	}
	for _, p := range append(pages, streams...) {
		if p != 2 {
			t.Fatalf("the server saw HTTP/%d requests (pages %v, streams %v), want only HTTP/2", p, pages, streams)
		}
	}
}

// TestBrowserHTTP1: over plain HTTP/1.1 each stream holds one of the six
// connections a browser opens to an origin, so a seventh tab does not even
// load until another tab closes.
func TestBrowserHTTP1(t *testing.T) {
	a := start(t, false)
	b := browsertest.New(t)
	six := openTabs(t, b, a.url+"/", 6)
	ssetest.WaitSubscribers(t, a.hub, "clock", 6)
	if p := browsertest.Eval[string](six[0], `performance.getEntriesByType("navigation")[0].nextHopProtocol`); p != "http/1.1" {
		t.Fatalf("the page was loaded over %q, want http/1.1", p)
	}

	seventh := b.NewTab(t, "tab 7")
	loading := seventh.StartNavigate(a.url + "/")
	ssetest.Publish(t, a.hub, core.Event{Type: "time", Data: "to six"}, "clock")
	for _, tab := range six {
		shows(tab, "to six")
	}
	// Over HTTP/2 the seventh is live within milliseconds (TestBrowserHTTP2);
	// give it a second.
	time.Sleep(time.Second)
	pages, streams := a.seen()
	if loading.Finished() || len(pages) != 6 || len(streams) != 6 || a.hub.Subscribers("clock") != 6 {
		t.Fatalf("with six streams open, the seventh tab loaded (%v) or the server saw %d pages, %d streams, %d subscribers; want 6 of each",
			loading.Finished(), len(pages), len(streams), a.hub.Subscribers("clock"))
	}

	six[0].Close()
	took := loading.Wait(5 * time.Second)
	seventh.WaitFor(`document.getElementById("status").textContent === "live"`, 5*time.Second)
	t.Logf("the seventh tab loaded %v after it started, once the first tab closed", took.Round(time.Millisecond))
	if got := seventh.Text("#time"); got != "…" {
		t.Fatalf("the seventh tab shows %q, want nothing yet: it was not connected when the event went out", got)
	}
	ssetest.Publish(t, a.hub, core.Event{Type: "time", Data: "to the seventh"}, "clock")
	shows(seventh, "to the seventh")
	for _, tab := range six[1:] {
		shows(tab, "to the seventh")
	}
}
