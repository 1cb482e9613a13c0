// Package browsertest drives a real headless Chromium from Go tests, for the
// examples' browser tests: open a page served on 127.0.0.1, wait for what a
// person would see, read it back.
//
// Chromium is Debian's chromium (/usr/bin/chromium) or the first chromium on
// PATH (see ExecPath). Without it, tests skip, unless CI=true, where they fail: in CI a
// skipped browser test is a missing browser, not a pass.
//
// Every wait is bounded, and everything a test starts (browser, tabs, browser
// contexts, the profile directory) is gone when the test's cleanup returns, so
// goleak.VerifyTestMain can check the package.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// Timeouts. A step on an idle machine takes milliseconds; these only bound a
// hang, so that a broken test fails with a message instead of at the go test
// timeout.
const (
	StartTimeout = 30 * time.Second // start Chromium and open its first tab
	StepTimeout  = 10 * time.Second // one navigation or evaluation
	WaitTimeout  = 10 * time.Second // default bound of Tab.WaitFor
	CloseTimeout = 10 * time.Second // close the browser gracefully before killing it
)

// ExecPath returns the Chromium to run, or "" if there is none. The
// environment variable BROWSERTEST_CHROMIUM, when set, names it instead
// (a path, or a name looked up on PATH).
func ExecPath() string {
	if p := os.Getenv("BROWSERTEST_CHROMIUM"); p != "" {
		if p, err := exec.LookPath(p); err == nil {
			return p
		}
		return ""
	}
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// RequireChromium skips t when Chromium is missing, or fails it when the
// environment says CI=true. It returns the path to run.
func RequireChromium(t testing.TB) string {
	t.Helper()
	path := ExecPath()
	if path != "" {
		return path
	}
	msg := "browsertest: Chromium not found (looked for /usr/bin/chromium, chromium and chromium-browser on PATH); install Debian's chromium package"
	if p := os.Getenv("BROWSERTEST_CHROMIUM"); p != "" {
		msg = "browsertest: BROWSERTEST_CHROMIUM=" + p + " is not an executable"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a browser test may not skip)")
	}
	t.Skip(msg)
	return ""
}

// A Browser is one headless Chromium process with its own fresh profile.
type Browser struct {
	t       testing.TB
	ctx     context.Context // the browser's root context: its first, idle tab
	cancel  context.CancelFunc
	dataDir string
	out     *ssetest.LockedBuffer
}

// New starts headless Chromium for t. It is closed, and its profile
// directory removed, in t.Cleanup.
//
// extra options follow this package's own, so they may add flags or
// override one; for a server with a self-signed certificate:
//
//	b := browsertest.New(t, chromedp.Flag("ignore-certificate-errors", true))
func New(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	execPath := RequireChromium(t)
	dataDir := t.TempDir() // removed after our cleanup below has stopped Chromium

	out := &ssetest.LockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox, // we run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Nothing leaves the machine: no proxy, and no name resolves but loopback.
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(dataDir),
		chromedp.CombinedOutput(out),
	)
	opts = append(opts, extra...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(t.Logf),
		chromedp.WithErrorf(func(format string, args ...any) { t.Logf("chromedp: "+format, args...) }),
	)
	b := &Browser{t: t, ctx: ctx, cancel: cancel, dataDir: dataDir, out: out}
	t.Cleanup(func() {
		b.close()
		allocCancel() // waits for the allocator's goroutines
		if t.Failed() {
			if s := strings.TrimSpace(out.String()); s != "" {
				t.Logf("chromium output:\n%s", s)
			}
		}
	})

	// The first Run starts the process; it must run on the browser's own
	// context, not one with a deadline, so a watchdog bounds it instead.
	start := time.Now()
	err := bounded(StartTimeout, cancel, func() error { return chromedp.Do(ctx) })
	if err != nil {
		t.Fatalf("browsertest: starting %s: %v\n%s", execPath, err, out.String())
	}
	t.Logf("browsertest: %s started in %v", execPath, time.Since(start).Round(time.Millisecond))
	return b
}

// close closes the browser gracefully, then makes sure no process of it is
// left writing into its profile directory.
func (b *Browser) close() {
	ctx, cancel := context.WithTimeout(b.ctx, CloseTimeout)
	err := chromedp.Cancel(ctx)
	cancel()
	b.cancel() // waits until the browser process has exited
	if err != nil && !errors.Is(err, context.Canceled) {
		b.t.Logf("browsertest: closing the browser: %v", err)
	}
	// Chromium's helpers (zygote, crashpad) can outlive the main process for
	// a moment; t.TempDir's cleanup would then fail with "directory not empty".
	if n := waitForLeftovers(b.dataDir, 5*time.Second); n > 0 {
		b.t.Errorf("browsertest: %d Chromium processes still use %s", n, b.dataDir)
	}
}

// A Tab is one page of the browser.
type Tab struct {
	t      testing.TB
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// NewTab opens a tab in the browser's default browser context: it shares
// cookies with every other tab opened with NewTab.
func (b *Browser) NewTab(t testing.TB, name string) *Tab {
	t.Helper()
	return b.newTab(t, name)
}

// NewIsolatedTab opens a tab in a new browser context of its own, like an
// incognito window: its own cookie jar, cache and storage. Tabs of two
// isolated contexts are two different people.
func (b *Browser) NewIsolatedTab(t testing.TB, name string) *Tab {
	t.Helper()
	return b.newTab(t, name, chromedp.WithNewBrowserContext())
}

func (b *Browser) newTab(t testing.TB, name string, opts ...chromedp.ContextOption) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, opts...)
	tab := &Tab{t: t, name: name, ctx: ctx, cancel: cancel}
	t.Cleanup(tab.Close)
	// The first Run creates the target, whose life is tied to the context it
	// runs on: bound it with a watchdog, not a deadline.
	if err := bounded(StepTimeout, cancel, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("browsertest: opening tab %s: %v", name, err)
	}
	return tab
}

// Close closes the tab, which ends its connections (an EventSource's stream
// among them). It is safe to call more than once.
func (tab *Tab) Close() {
	tab.once.Do(tab.cancel) // CloseTarget, then waits (bounded) until it is gone
}

// Navigate loads url, which must be an http or https URL on 127.0.0.1, and
// waits for the load event.
func (tab *Tab) Navigate(rawURL string) {
	tab.t.Helper()
	if err := CheckLocal(rawURL); err != nil {
		tab.t.Fatalf("browsertest: %s: %v", tab.name, err)
	}
	ctx, cancel := context.WithTimeout(tab.ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(rawURL)); err != nil {
		tab.t.Fatalf("browsertest: %s: navigate to %s: %v", tab.name, rawURL, err)
	}
}

// StartNavigate starts loading url, as Navigate does, and returns at once.
// It is for a page that cannot load yet: over HTTP/1.1, a browser opens at
// most six connections to an origin, so a seventh page of an origin whose
// six connections are all held by event streams waits until one closes.
// The load goes on until it ends, the tab closes or the test ends.
func (tab *Tab) StartNavigate(rawURL string) *Loading {
	tab.t.Helper()
	if err := CheckLocal(rawURL); err != nil {
		tab.t.Fatalf("browsertest: %s: %v", tab.name, err)
	}
	ctx, cancel := context.WithCancel(tab.ctx)
	l := &Loading{tab: tab, url: rawURL, start: time.Now(), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.err = chromedp.Do(ctx, chromedp.Navigate(rawURL))
	}()
	tab.t.Cleanup(func() {
		cancel()
		<-l.done
	})
	return l
}

// A Loading is a navigation started by Tab.StartNavigate.
type Loading struct {
	tab   *Tab
	url   string
	start time.Time
	done  chan struct{}
	err   error // set before done is closed
}

// Finished reports whether the load has ended, loaded or failed.
func (l *Loading) Finished() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout (StepTimeout if zero) for the page to load, and
// fails the test if it has not or could not. It returns how long the load
// took since StartNavigate.
func (l *Loading) Wait(timeout time.Duration) time.Duration {
	l.tab.t.Helper()
	if timeout <= 0 {
		timeout = StepTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-l.done:
	case <-timer.C:
		l.tab.t.Fatalf("browsertest: %s: %s has not loaded after %v", l.tab.name, l.url, time.Since(l.start).Round(time.Millisecond))
	}
	if l.err != nil {
		l.tab.t.Fatalf("browsertest: %s: navigate to %s: %v", l.tab.name, l.url, l.err)
	}
	return time.Since(l.start)
}

// CheckLocal reports an error unless rawURL is an http or https URL on
// 127.0.0.1.
func CheckLocal(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("only http://127.0.0.1 and https://127.0.0.1 URLs may be opened, not %q", rawURL)
	}
	return nil
}

// Eval evaluates a JavaScript expression in the tab and decodes its value
// into T.
func Eval[T any](tab *Tab, expr string) T {
	tab.t.Helper()
	v, err := tryEval[T](tab, expr)
	if err != nil {
		tab.t.Fatalf("browsertest: %s: evaluating %s: %v", tab.name, expr, err)
	}
	return v
}

func tryEval[T any](tab *Tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tab.ctx, StepTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// Text returns document.querySelector(sel).textContent, or fails the test
// if there is no such element.
func (tab *Tab) Text(sel string) string {
	tab.t.Helper()
	q := strconv.Quote(sel)
	v, err := tryEval[*string](tab, `(el => el ? el.textContent : null)(document.querySelector(`+q+`))`)
	if err != nil {
		tab.t.Fatalf("browsertest: %s: reading %s: %v", tab.name, sel, err)
	}
	if v == nil {
		tab.t.Fatalf("browsertest: %s: no element %s\n%s", tab.name, sel, tab.describe())
	}
	return *v
}

// WaitFor polls a JavaScript expression in the page every 10ms until it is
// truthy, and fails the test, showing the page's text, if it is not within
// timeout (WaitTimeout if zero). It returns how long it took.
func (tab *Tab) WaitFor(expr string, timeout time.Duration) time.Duration {
	tab.t.Helper()
	took, err := tab.Poll(expr, timeout)
	if err != nil {
		tab.t.Fatalf("browsertest: %s: %v\n%s", tab.name, err, tab.describe())
	}
	return took
}

// Poll is WaitFor returning the error instead of failing the test, for a
// test that explains the failure itself.
func (tab *Tab) Poll(expr string, timeout time.Duration) (time.Duration, error) {
	if timeout <= 0 {
		timeout = WaitTimeout
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(tab.ctx, timeout+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(10*time.Millisecond),
		chromedp.WithPollingTimeout(timeout)))
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("waited %v for %s: %w", took.Round(time.Millisecond), expr, err)
	}
	return took, nil
}

// describe returns the page's URL and visible text, for failure messages.
func (tab *Tab) describe() string {
	v, err := tryEval[string](tab, `location.href + "\n" + (document.body ? document.body.innerText : "(no body)")`)
	if err != nil {
		return fmt.Sprintf("(page unreadable: %v)", err)
	}
	return "page " + tab.name + ": " + v
}

// Context returns the tab's chromedp context, for actions this package does
// not wrap (SendKeys, Click...). Derive a deadline from it for each call.
func (tab *Tab) Context() context.Context { return tab.ctx }

// Do runs chromedp actions on the tab, bounded by StepTimeout.
func (tab *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("browsertest: %s: %v\n%s", tab.name, err, tab.describe())
	}
}

// bounded runs f, cancelling with cancel if it has not returned within d,
// which makes f return with an error.
func bounded(d time.Duration, cancel context.CancelFunc, f func() error) error {
	timer := time.AfterFunc(d, cancel)
	err := f()
	if !timer.Stop() {
		return fmt.Errorf("timed out after %v: %w", d, err)
	}
	return err
}

// waitForLeftovers waits up to d for the processes started with
// --user-data-dir=dir to exit, killing them (by pid: only Chromium processes
// this Browser started carry its unique profile directory) after the first
// look. It returns how many are still there.
func waitForLeftovers(dir string, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		pids := processesUsing(dir)
		if len(pids) == 0 || time.Now().After(deadline) {
			return len(pids)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesUsing lists the live processes whose command line has
// --user-data-dir=dir. Without /proc it finds none.
func processesUsing(dir string) []int {
	want := []byte("--user-data-dir=" + dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if bytes.Equal(arg, want) {
				if !isZombie(pid) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // gone
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}
