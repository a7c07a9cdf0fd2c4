package sipplugin

import (
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// The proxy on TCP. TCP is served by sipgo (transport and transactions):
// its handlers hand the requests to the same proxy as the UDP path, with
// the sipgo server transaction as the upstream. The proxy forwards from
// its UDP socket (the first UDP listener): a phone registered over TCP is
// not reached (only UDP contacts are), but a phone on TCP calls and is
// answered on its connection.

// tcpUpstream answers a request received over TCP through its sipgo
// server transaction. done is closed by the final response: sipgo ends a
// transaction on a reliable transport when its handler returns, so the
// handler waits for it.
type tcpUpstream struct {
	tx   sip.ServerTransaction
	once sync.Once
	done chan struct{}
}

func (u *tcpUpstream) send(res *sip.Response) []byte {
	_ = u.tx.Respond(res) // fails once sipgo answered a CANCEL with 487: nothing to do
	if res.StatusCode >= 200 {
		u.once.Do(func() { close(u.done) })
	}
	return nil
}
func (u *tcpUpstream) resend([]byte)  {}
func (u *tcpUpstream) reliable() bool { return true }

// noUpstream is the upstream of an ACK, which is never answered.
type noUpstream struct{}

func (noUpstream) send(*sip.Response) []byte { return nil }
func (noUpstream) resend([]byte)             {}
func (noUpstream) reliable() bool            { return true }

// serveTCP registers the proxy's handlers on the sipgo server (TCP); the
// registrar keeps REGISTER.
func (p *proxy) serveTCP(srv *sipgo.Server) {
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.OPTIONS, sip.MESSAGE,
		sip.INFO, sip.UPDATE, sip.PRACK, sip.NOTIFY, sip.REFER, sip.SUBSCRIBE, sip.PUBLISH} {
		srv.OnRequest(m, p.onTCP)
	}
}

// tcpWaitMax bounds how long a TCP handler waits for the final response
// (every transaction of the proxy ends well before: Timer C and B).
const tcpWaitMax = ringTimeout + 2*timer64T1

func (p *proxy) onTCP(req *sip.Request, tx sip.ServerTransaction) {
	defer func() {
		if r := recover(); r != nil {
			p.in.counters.panics.Add(1)
			p.log.Warn("SIP proxy TCP handler recovered", "panic", r)
		}
	}()
	src, _ := netip.ParseAddrPort(req.Source())
	var out *udpServer
	if len(p.in.udp) > 0 {
		out = p.in.udp[0]
	}
	if req.Via() == nil {
		p.in.counters.malformed.Add(1)
		return
	}
	if req.Method == sip.ACK || tx == nil {
		p.request(req, noUpstream{}, out, src, time.Now())
		return
	}
	up := &tcpUpstream{tx: tx, done: make(chan struct{})}
	if req.Method == sip.INVITE {
		// sipgo answers a matching CANCEL itself (200, then 487 to the
		// INVITE): the proxy cancels the branches. On a goroutine: sipgo
		// calls this inside its transaction's state machine, and the proxy
		// answers that transaction under its own lock.
		key := serverKey(req, sip.INVITE)
		tx.OnCancel(func(*sip.Request) { go p.cancelKey(key) })
	}
	p.request(req, up, out, src, time.Now())
	t := time.NewTimer(tcpWaitMax)
	defer t.Stop()
	select {
	case <-up.done:
	case <-tx.Done():
	case <-t.C:
	}
}

// cancelKey cancels the pending branches of the INVITE server transaction
// key (a CANCEL sipgo matched and answered).
func (p *proxy) cancelKey(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.servers[key]
	if st == nil || st.final != 0 || st.cancelled {
		return
	}
	p.c.cancelled.Add(1)
	st.cancelled = true
	for _, ct := range st.branches {
		if ct.final == 0 {
			p.cancelBranchLocked(ct)
		}
	}
}
