package web

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/web/totp"
)

// screenshotDirEnv names a directory that keeps the browser test's
// screenshots; without it they go to a temporary directory.
const screenshotDirEnv = "CABALMAIL_SCREENSHOT_DIR"

// browserTimeout bounds the whole browser test; single steps wait for
// selectors, never for a fixed time.
const browserTimeout = 4 * time.Minute

// stepTimeout bounds one browser step (a click and the page it loads, a
// navigation, typing into a field): generous for a loaded machine.
const stepTimeout = time.Minute

// chromiumPath finds a Chromium to drive, or "".
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserEnv is a real web server on a loopback port, over a real SQLite
// store, and a headless Chromium driving it.
type browserEnv struct {
	*env
	t       *testing.T
	base    string
	ctx     context.Context
	shots   string
	shotNum int
	dialogs chan string
}

func newBrowserEnv(t *testing.T, o envOpts) *browserEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := chromiumPath()
	if bin == "" {
		t.Skip("chromium not found in PATH (install Debian's chromium package to run the browser test)")
	}
	e := newEnv(t, o)

	// The real listener path: ServeListeners with its limits, on
	// 127.0.0.1:0.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeListeners(srvCtx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})

	shots := os.Getenv(screenshotDirEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s (set %s to keep them)", shots, screenshotDirEnv)

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)

	b := &browserEnv{env: e, t: t, base: "http://" + ln.Addr().String(), ctx: bctx, shots: shots, dialogs: make(chan string, 8)}
	// The first action starts the browser and its tab; it runs on the
	// tab's own context, since cancelling the context of the first action
	// closes the browser.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	// Clipboard access for our origin, as a user who allowed it.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(bctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    browser.PermissionSettingGranted,
			Origin:     b.base,
		})
		if err != nil {
			t.Logf("granting %s: %v (the clipboard check falls back to a shim)", name, err)
		}
	}
	// A headless page is not focused unless told; copying needs focus.
	if _, err := chromedp.Call(bctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	// Accept every confirm() and remember its text.
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			select {
			case b.dialogs <- ev.Message:
			default:
			}
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

func (b *browserEnv) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail("%v", err)
	}
}

// fail stops the test, saving what the browser shows for the post-mortem.
func (b *browserEnv) fail(format string, args ...any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		f := filepath.Join(b.shots, "failure.png")
		if os.WriteFile(f, png, 0o644) == nil {
			b.t.Logf("the browser's screen at the failure: %s", f)
		}
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.documentElement.outerHTML`)); err == nil {
		b.t.Logf("the page at the failure: %s", html)
	}
	b.t.Fatalf(format, args...)
}

// open loads a page of the app and waits for its main content.
func (b *browserEnv) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main#main")))
}

// submit clicks a button that submits a form and waits for the page that
// comes back to load.
func (b *browserEnv) submit(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil,
		chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))); err != nil {
		b.fail("click %s: %v", sel, err)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("main#main")))
}

// fill types into the fields, given as selector, value pairs.
func (b *browserEnv) fill(kv ...string) {
	b.t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		b.do(chromedp.WaitVisible(chromedp.CSS(kv[i])), chromedp.Clear(chromedp.CSS(kv[i])), chromedp.SendKeys(chromedp.CSS(kv[i]), kv[i+1]))
	}
}

func (b *browserEnv) path() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.base)
}

// text returns the text of the first element matching sel.
func (b *browserEnv) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browserEnv) eval(js string) any {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// wantFlash waits for the flash message and checks it holds want.
func (b *browserEnv) wantFlash(want string) {
	b.t.Helper()
	if got := b.text(".flash"); !strings.Contains(got, want) {
		b.t.Fatalf("on %s the flash says %q, want %q", b.path(), got, want)
	}
}

// shoot saves a full-page screenshot of the current page at phone and
// desktop widths, after checking the page's accessibility basics.
func (b *browserEnv) shoot(name string) {
	b.t.Helper()
	b.checkA11y(name)
	b.shotNum++
	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"phone", 390, 844, true}, {"desktop", 1366, 900, false}} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		b.do(chromedp.EmulateViewport(vp.width, vp.height, opts...))
		// The page must fit the width: nothing scrolls sideways.
		if w := b.eval(`document.documentElement.scrollWidth - document.documentElement.clientWidth`); w != float64(0) {
			b.t.Errorf("%s at %s width: the page is %v px wider than the screen", name, vp.name, w)
		}
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Fatal(err)
		}
		f := filepath.Join(b.shots, fmt.Sprintf("%02d-%s-%s.png", b.shotNum, name, vp.name))
		if err := os.WriteFile(f, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do(chromedp.EmulateViewport(1366, 900, chromedp.EmulateScale(1)))
}

// a11yJS lists the accessibility problems of the page: form fields without
// a label, buttons and links without a name, and a missing h1.
const a11yJS = `(() => {
  const out = [];
  const visible = el => el.getClientRects().length > 0 || el.closest("details:not([open])");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!visible(el)) continue;
    if (el.labels.length === 0 && !el.getAttribute("aria-label")) out.push("unlabelled " + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!visible(el)) continue;
    const name = (el.getAttribute("aria-label") || el.textContent || "").trim();
    if (!name) out.push("nameless " + el.outerHTML.slice(0, 80));
  }
  if (!document.querySelector("h1")) out.push("no h1");
  if (!document.documentElement.lang) out.push("no lang");
  return out;
})()`

func (b *browserEnv) checkA11y(name string) {
	b.t.Helper()
	probs, _ := b.eval(a11yJS).([]any)
	for _, p := range probs {
		b.t.Errorf("%s: %v", name, p)
	}
}

// TestBrowser drives the web app in headless Chromium the way people use
// it: sign-up, approval by an admin, login, a random address that is
// highlighted, copied and revoked. It saves screenshots of every page at
// phone and desktop widths and checks the basics of keyboard use.
func TestBrowser(t *testing.T) {
	z := newZoneServer(t)
	b := newBrowserEnv(t, envOpts{dev: true, signup: SignupOpen, dnsServer: z.addr})
	if _, err := b.acc.Add(b.ctx, "root", "root-password-1", true); err != nil {
		t.Fatal(err)
	}

	// The login page, and the keyboard: the user name has the focus; back
	// from it are the brand link, with a visible focus ring, and the skip
	// link, which shows when focused.
	b.open("/login")
	if got := b.eval(`document.activeElement.id`); got != "username" {
		t.Errorf("the login page focuses %q, want the user name", got)
	}
	if got := b.eval(`getComputedStyle(document.activeElement).outlineStyle`); got == "none" {
		t.Error("the focused user name field has no outline")
	}
	b.do(chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	if got := b.eval(`document.activeElement.className + " " + getComputedStyle(document.activeElement).outlineStyle`); got != "brand solid" {
		t.Errorf("Shift+Tab from the user name focuses %v, want the brand link with an outline", got)
	}
	b.do(chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	if got := b.eval(`(() => { const r = document.activeElement.getBoundingClientRect();
		return document.activeElement.className + " " + (r.left >= 0 && r.top >= 0); })()`); got != "skip true" {
		t.Errorf("the next Shift+Tab focuses %v, want the skip link on screen", got)
	}
	b.do(chromedp.KeyEvent(kb.Enter))
	if got := b.eval(`location.hash`); got != "#main" {
		t.Errorf("the skip link leads to %q", got)
	}
	b.open("/login")
	b.shoot("login")

	// A stranger signs up; the account waits for approval.
	b.submit(`a[href="/signup"]`)
	b.shoot("signup")
	b.fill("#username", "carol", "#password", "carol-password-1", "#password2", "carol-password-2")
	b.submit(`form[action="/signup"] button[type=submit]`)
	b.wantFlash("The two passwords differ")
	b.fill("#password", "carol-password-1", "#password2", "carol-password-1")
	b.submit(`form[action="/signup"] button[type=submit]`)
	b.wantFlash("waiting for an admin's approval")
	carol, err := b.acc.Get(b.ctx, "carol")
	if err != nil || carol.Status != store.UserPending {
		t.Fatalf("after sign-up carol is %+v, %v; want pending", carol, err)
	}
	b.fill("#username", "carol", "#password", "carol-password-1")
	b.submit(`form[action="/login"] button[type=submit]`)
	if b.path() != "/login" {
		t.Fatalf("a pending user got to %s", b.path())
	}

	// The admin logs in and must enrol TOTP first, with the key the page
	// shows.
	b.fill("#username", "root", "#password", "root-password-1")
	b.submit(`form[action="/login"] button[type=submit]`)
	if b.path() != "/totp" {
		t.Fatalf("admin's first login went to %s, want /totp", b.path())
	}
	b.shoot("totp-enrolment")
	key, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.ID("totp-secret"), "data-secret"))
	if err != nil || !key.Exists {
		t.Fatalf("no TOTP key on the page: %v", err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Value)
	if err != nil {
		t.Fatal(err)
	}
	b.fill("#code", totp.Code(secret, totp.Step(b.clock.Now())))
	b.submit(`form[action="/totp"] button[type=submit]`)
	b.wantFlash("Two-factor authentication is on")

	// Some addresses, so the admin pages have something to show.
	for i, comment := range []string{"Bookshop", "Train tickets", "Newsletter: cooking"} {
		if _, err := b.addrs.Create(b.ctx, addresses.Operator(), addresses.CreateRequest{Random: true, Apex: "example.test", Comment: comment, Users: []string{"root"}}); err != nil {
			t.Fatal(i, err)
		}
	}

	// The admin approves carol and grants her a domain, in the browser.
	b.open("/admin")
	if !strings.Contains(b.text(".notice"), "1 user is waiting") {
		t.Errorf("admin page does not say someone waits: %q", b.text(".notice"))
	}
	b.shoot("admin-users")
	b.submit(`li.user:has(input[name=name][value=carol]) button[value=approve]`)
	b.wantFlash("User carol approved.")
	b.do(chromedp.SetValue(chromedp.ID("g-carol"), "example.test"))
	b.submit(`form:has(#g-carol) button`)
	b.wantFlash("carol: may now create addresses on example.test")
	if carol, _ = b.acc.Get(b.ctx, "carol"); carol.Status != store.UserActive {
		t.Fatalf("after approval carol is %s", carol.Status)
	}

	b.open("/admin/addresses")
	b.shoot("admin-addresses")
	b.open("/admin/invites")
	b.fill("#note", "For Dave")
	b.submit(`form[action="/admin/invites"] button[type=submit]`)
	b.wantFlash("Invite created")
	b.shoot("admin-invites")
	// The DNS role answers everything right (the new addresses'
	// subdomains too) but one MX.
	for _, rec := range serveRecords(t, b.env, z) {
		if rec.Type == "MX" {
			z.set(rec.Name, "MX")
			break
		}
	}
	b.open("/admin/dns")
	if got := b.eval(`document.querySelector(".badge.warn").textContent`); got != "1 wrong or missing" {
		t.Errorf("DNS check says %q, want 1 wrong or missing", got)
	}
	b.shoot("admin-dns")
	b.submit(`form[action="/logout"] button`)
	b.wantFlash("You are logged out.")

	// carol logs in: an empty list with a helpful word, then some
	// addresses, favorites first so the new one lands below the fold.
	b.fill("#username", "carol", "#password", "carol-password-1")
	b.submit(`form[action="/login"] button[type=submit]`)
	if b.path() != "/addresses" {
		t.Fatalf("carol's login went to %s", b.path())
	}
	if !strings.Contains(b.text("p.empty"), "No addresses yet") {
		t.Error("no empty-state text on an empty address list")
	}
	b.shoot("addresses-empty")
	actor := addresses.Actor{UserID: carol.ID, Name: carol.Name}
	for i := range 8 {
		a, err := b.addrs.Create(b.ctx, actor, addresses.CreateRequest{Random: true, Apex: "example.test", Comment: fmt.Sprintf("Shop number %d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.addrs.SetFavorite(b.ctx, actor, a.Address, true); err != nil {
			t.Fatal(err)
		}
	}

	// Random: the new address is created, highlighted, scrolled to and
	// focused.
	b.open("/addresses")
	b.fill("#comment", "Concert tickets")
	b.submit(`#random`)
	b.wantFlash("Created ")
	own, err := b.st.ListAddresses(b.ctx, store.AddressFilter{UserID: carol.ID})
	if err != nil {
		t.Fatal(err)
	}
	var created string
	for _, a := range own {
		if len(a.Holders) == 1 && a.Holders[0].Comment == "Concert tickets" {
			created = a.Address
		}
	}
	if created == "" || len(own) != 9 {
		t.Fatalf("after Random carol holds %d addresses, none commented Concert tickets", len(own))
	}
	hl, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS("li[data-highlight]"), "id"))
	if err != nil || hl.Value != created {
		t.Fatalf("highlighted %q, want %q (%v)", hl.Value, created, err)
	}
	inView := b.eval(`(() => { const r = document.querySelector("li[data-highlight]").getBoundingClientRect();
		return r.top >= 0 && r.bottom <= innerHeight && scrollY > 0; })()`)
	if inView != true {
		t.Error("the new address is not scrolled into view")
	}
	if got := b.eval(`document.activeElement.id`); got != created {
		t.Errorf("focus is on %v, want the new address", got)
	}
	b.shoot("addresses")

	// Copy: the clipboard gets the address and the button says so.
	clipboard := b.eval(`navigator.clipboard.writeText("probe").then(() => navigator.clipboard.readText()).catch(e => "error: " + e)`)
	shim := clipboard != "probe"
	if shim {
		t.Logf("no clipboard access in this browser (%v); checking copies through a navigator.clipboard shim", clipboard)
		b.do(chromedp.Evaluate[chromedp.Void](`(() => {
			let text = "";
			Object.defineProperty(navigator, "clipboard", {value: {
				writeText: t => { text = t; return Promise.resolve(); },
				readText: () => Promise.resolve(text)}});
		})()`))
	}
	b.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const btn = document.querySelector("li[data-highlight] button.copy");
		window.copyFeedback = [];
		new MutationObserver(() => window.copyFeedback.push(btn.textContent)).observe(btn, {childList: true, characterData: true, subtree: true});
	})()`))
	b.do(chromedp.Click(chromedp.CSS("li[data-highlight] button.copy"), chromedp.NodeVisible))
	// Wait in the page until the clipboard changes and the button has said
	// Copied; the step's deadline bounds the wait.
	waitCtx, cancelWait := context.WithTimeout(b.ctx, stepTimeout)
	defer cancelWait()
	copied, err := chromedp.Run(waitCtx, chromedp.Evaluate[string](`new Promise(resolve => {
		const check = async () => {
			const t = await navigator.clipboard.readText();
			if (t && t !== "probe" && window.copyFeedback.includes("Copied")) resolve(t); else setTimeout(check, 50);
		};
		check();
	})`, chromedp.EvalAwaitPromise))
	if err != nil || copied != created {
		b.fail("after Copy: clipboard holds %q (%v), want %q; the button said %v", copied, err, created, b.eval(`window.copyFeedback.join(",")`))
	}

	// Revoke, with the confirmation: the address is gone from the page and
	// from the store.
	b.submit(fmt.Sprintf(`li[id=%q] button[value=revoke]`, created))
	select {
	case msg := <-b.dialogs:
		if !strings.Contains(msg, created) {
			t.Errorf("the confirmation says %q, without the address", msg)
		}
	default:
		t.Error("revoking asked no confirmation")
	}
	b.wantFlash("Revoked " + created)
	if n := b.eval(fmt.Sprintf(`document.querySelectorAll('li[id=%q]').length`, created)); n != float64(0) {
		t.Error("the revoked address is still listed")
	}
	if _, err := b.st.AddressByName(b.ctx, created); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the revoked address is still in the store: %v", err)
	}

	b.open("/account")
	b.shoot("account")
}
