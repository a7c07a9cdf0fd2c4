package site

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxy is a TCP relay on loopback that a test can cut (close every
// connection: the peers see a reset) or blackhole (keep the connections
// open but drop every byte: silent loss, as a dead link or a filtering
// firewall would).
type proxy struct {
	lis    net.Listener
	target string
	black  atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newProxy(t testing.TB, host, target string) *proxy {
	t.Helper()
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, target: target, conns: make(map[net.Conn]struct{})}
	go p.serve()
	t.Cleanup(func() {
		lis.Close()
		p.cut()
	})
	return p
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		go p.relay(c)
	}
}

func (p *proxy) relay(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.track(c, up)
	go p.copy(up, c)
	p.copy(c, up)
}

func (p *proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// copy relays src to dst; while blackholed, bytes are read and dropped.
func (p *proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.black.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// Half-close as TCP would, then let cut or the other side finish.
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// cut closes every relayed connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a graceful close
		}
		c.Close()
		delete(p.conns, c)
	}
}

// blackhole starts or stops dropping every byte.
func (p *proxy) blackhole(on bool) { p.black.Store(on) }
