package dnsd

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkUDPQueries measures queries per second over real UDP sockets on
// loopback: each parallel worker keeps one query in flight.
func BenchmarkUDPQueries(b *testing.B) {
	e := newEnv(b)
	e.create("shop@x1.example.test")
	e.refresh()
	names := []struct {
		name  string
		qtype uint16
	}{
		{"x1.example.test.", dns.TypeMX},
		{"x1.example.test.", dns.TypeTXT},
		{"_dmarc.x1.example.test.", dns.TypeTXT},
		{"nope.example.test.", dns.TypeA},
		{"mail.example.test.", dns.TypeA},
	}
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", e.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		c := &dns.Conn{Conn: conn}
		i := 0
		for pb.Next() {
			q := names[i%len(names)]
			i++
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.qtype)
			m.SetEdns0(1232, false)
			if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
				b.Error(err)
				return
			}
			if err := c.WriteMsg(m); err != nil {
				b.Error(err)
				return
			}
			r, err := c.ReadMsg()
			if err != nil {
				b.Error(err)
				return
			}
			if r.Id != m.Id {
				b.Errorf("id %d for %d", r.Id, m.Id)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}
