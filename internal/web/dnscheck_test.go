package web

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/domains"
)

// zoneServer is a small authoritative DNS server on loopback, UDP and TCP
// on one port, that answers from a table the test fills in.
type zoneServer struct {
	addr    string
	maxUDP  int // when > 0, UDP answers longer than this are truncated whatever EDNS0 says
	mu      sync.Mutex
	rrs     map[string][]dns.RR // "name TYPE" → answers
	queries map[string]int      // by network
}

func newZoneServer(t *testing.T) *zoneServer {
	t.Helper()
	// The UDP port the system picks may be taken for TCP by another
	// program: try a few.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if attempt == 20 {
			t.Fatal(err)
		}
	}
	z := &zoneServer{addr: pc.LocalAddr().String(), rrs: map[string][]dns.RR{}, queries: map[string]int{}}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return z
}

func (z *zoneServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	z.mu.Lock()
	z.queries[w.LocalAddr().Network()]++
	if len(req.Question) == 1 {
		q := req.Question[0]
		m.Answer = append(m.Answer, z.rrs[strings.ToLower(q.Name)+" "+dns.TypeToString[q.Qtype]]...)
	}
	maxUDP := z.maxUDP
	z.mu.Unlock()
	if w.LocalAddr().Network() == "udp" {
		// RFC 6891 6.2.5 and RFC 1035 4.2.1: fit the UDP answer to the
		// client's buffer, setting TC when it does not fit.
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
			m.SetEdns0(o.UDPSize(), false)
		}
		m.Truncate(size)
		if maxUDP > 0 && m.Len() > maxUDP {
			m.Answer, m.Truncated = nil, true
		}
	}
	_ = w.WriteMsg(m)
}

func (z *zoneServer) count(network string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.queries[network]
}

// set answers name/type with rr (nil: no answer).
func (z *zoneServer) set(name, typ string, rr ...dns.RR) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.rrs[strings.ToLower(name)+" "+typ] = rr
}

// recordRR builds the answer a correct DNS role gives for rec.
func recordRR(t *testing.T, rec domains.Record) dns.RR {
	t.Helper()
	hdr := dns.RR_Header{Name: rec.Name, Rrtype: dns.StringToType[rec.Type], Class: dns.ClassINET, Ttl: 300}
	if rec.Type == "TXT" {
		// RFC 7208 3.3: long TXT values are split into 255-byte strings.
		var parts []string
		for v := rec.Value; len(v) > 0; {
			n := min(len(v), 255)
			parts = append(parts, v[:n])
			v = v[n:]
		}
		return &dns.TXT{Hdr: hdr, Txt: parts}
	}
	rr, err := dns.NewRR(fmt.Sprintf("%s 300 IN %s %s", rec.Name, rec.Type, rec.Value))
	if err != nil {
		t.Fatalf("record %s %s %q: %v", rec.Name, rec.Type, rec.Value, err)
	}
	return rr
}

// serveRecords fills z with correct answers for every record of e's
// domains except those for which bad returns true, and returns the
// expected records by "name type value".
func serveRecords(t *testing.T, e *env, z *zoneServer) []domains.Record {
	t.Helper()
	ds, err := e.st.ListDomains(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all []domains.Record
	seen := map[string]bool{}
	byKey := map[string][]dns.RR{}
	for _, d := range ds {
		rs, err := e.dom.Records(e.ctx, d.Apex)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range rs.Full {
			k := rec.Name + " " + rec.Type + " " + rec.Value
			if rec.Placeholder || strings.HasPrefix(rec.Value, "<") || seen[k] {
				continue
			}
			seen[k] = true
			all = append(all, rec)
			nt := rec.Name + " " + rec.Type
			byKey[nt] = append(byKey[nt], recordRR(t, rec))
		}
	}
	for nt, rrs := range byKey {
		name, typ, _ := strings.Cut(nt, " ")
		z.set(name, typ, rrs...)
	}
	return all
}

// TestDNSCheck runs the admin DNS check against a loopback DNS server that
// answers some records right, one MX with another host and no TXT for one
// name, and checks the report names exactly the wrong ones, through the
// API and on the admin page.
func TestDNSCheck(t *testing.T) {
	z := newZoneServer(t)
	e := newEnv(t, envOpts{dev: true, dnsServer: z.addr})
	all := serveRecords(t, e, z)
	var mx, txt domains.Record
	for _, rec := range all {
		if rec.Type == "MX" && mx.Name == "" {
			mx = rec
		}
		if rec.Type == "TXT" && strings.HasPrefix(rec.Value, "v=DMARC1") && txt.Name == "" {
			txt = rec
		}
	}
	if mx.Name == "" || txt.Name == "" || len(all) < 5 {
		t.Fatalf("expected records lack an MX or a DMARC TXT: %+v", all)
	}
	z.set(mx.Name, "MX", &dns.MX{Hdr: dns.RR_Header{Name: mx.Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 300}, Preference: 10, Mx: "mx.elsewhere.test."})
	z.set(txt.Name, "TXT")

	admin := e.adminClient("root")
	r := admin.do("GET", "/api/v1/admin/dns-check", nil).want(t, "dns check", 200, "")
	if r.body["server"] != z.addr {
		t.Errorf("server %v, want %s", r.body["server"], z.addr)
	}
	if got := r.body["checked"]; got != float64(len(all)) {
		t.Errorf("checked %v records, want %d", got, len(all))
	}
	if n := z.count("tcp"); n != 0 {
		t.Errorf("%d queries over TCP; EDNS0 should make UDP enough", n)
	}
	if got := r.body["failed"]; got != float64(2) {
		t.Errorf("failed %v, want 2:\n%s", got, r.raw)
	}
	recs, _ := r.body["records"].([]any)
	for i, x := range recs {
		if ok := x.(map[string]any)["ok"] == true; ok != (i >= 2) {
			t.Errorf("record %d ok=%v: problems should come first", i, ok)
		}
	}
	var okCount int
	for _, x := range recs {
		rec := x.(map[string]any)
		name, typ, ok := rec["name"].(string), rec["type"].(string), rec["ok"] == true
		switch {
		case name == mx.Name && typ == "MX":
			if ok || rec["problem"] != "different value" || !strings.Contains(fmt.Sprint(rec["got"]), "mx.elsewhere.test.") {
				t.Errorf("wrong MX reported as %v", rec)
			}
		case name == txt.Name && typ == "TXT":
			if ok || rec["problem"] != "no such record" {
				t.Errorf("missing TXT reported as %v", rec)
			}
		case ok:
			okCount++
		default:
			t.Errorf("right record reported wrong: %v", rec)
		}
	}
	if okCount != len(all)-2 {
		t.Errorf("%d records right, want %d", okCount, len(all)-2)
	}

	_, body, _ := admin.page("GET", "/admin/dns", nil)
	if !strings.Contains(body, "2 wrong or missing") || strings.Count(body, `class="bad"`) != 2 ||
		!strings.Contains(body, "different value") || !strings.Contains(body, "no such record") {
		t.Errorf("DNS page does not show the two problems:\n%s", body)
	}

	// Every answer right: the check says so.
	serveRecords(t, e, z)
	r = admin.do("GET", "/api/v1/admin/dns-check", nil).want(t, "dns check", 200, "")
	if r.body["failed"] != float64(0) {
		t.Errorf("all right, yet failed %v:\n%s", r.body["failed"], r.raw)
	}

	// A server that truncates big answers even with EDNS0: the check
	// asks again over TCP and still gets the DKIM keys right.
	z.mu.Lock()
	z.maxUDP = 300
	z.mu.Unlock()
	tcpBefore := z.count("tcp")
	r = admin.do("GET", "/api/v1/admin/dns-check", nil).want(t, "dns check", 200, "")
	if r.body["failed"] != float64(0) || z.count("tcp") == tcpBefore {
		t.Errorf("truncated answers: failed %v, %d TCP queries:\n%s", r.body["failed"], z.count("tcp")-tcpBefore, r.raw)
	}

	// No DNS role configured: a clear refusal, not an empty report.
	e2 := newEnv(t, envOpts{dev: true})
	e2.adminClient("root").do("GET", "/api/v1/admin/dns-check", nil).want(t, "no dns role", 409, "dns_check_unavailable")
}
