package state

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallProxy forwards TCP connections to a Redis, and can turn the subscribed ones into a
// black hole: open, but nothing passes either way, as a middlebox that dropped a long-lived
// flow's state leaves them. Connections made later pass.
type stallProxy struct {
	l     net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	flows []*flow
}

// flow is one proxied connection's state.
type flow struct{ subscribed, dead atomic.Bool }

// stall makes every subscribed connection a black hole.
func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.flows {
		if f.subscribed.Load() {
			f.dead.Store(true)
		}
	}
}

func newStallProxy(t *testing.T, to string) *stallProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{l: l, to: to}
	t.Cleanup(func() {
		_ = l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	go p.accept()
	return p
}

func (p *stallProxy) addr() string { return p.l.Addr().String() }

func (p *stallProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		f := new(flow)
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.flows = append(p.flows, f)
		p.mu.Unlock()
		go f.pipe(up, c, true)
		go f.pipe(c, up, false)
	}
}

// pipe copies src to dst until the flow is dead; then it reads on and forwards nothing.
func (f *flow) pipe(dst io.Writer, src io.Reader, fromClient bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient && bytes.Contains(bytes.ToLower(buf[:n]), []byte("subscribe")) {
				f.subscribed.Store(true)
			}
			if !f.dead.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// A subscription whose connection went silent (no reply to its pings) is made again on a new
// connection: a peer's cooldown published afterwards still arrives, instead of the instance
// missing every one until TCP gives up on the dead connection, minutes later.
func TestSilentSubscriptionIsReplaced(t *testing.T) {
	addr := testRedis(t)
	proxy := newStallProxy(t, addr)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	var mu sync.Mutex
	var got []Cooldown
	cfg := Config{Addrs: []string{proxy.addr()}, Prefix: "s:", ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	b, err := New(cfg, Options{Now: clock, OnCooldown: func(c Cooldown) { mu.Lock(); got = append(got, c); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	t.Cleanup(func() { _ = b.Close() })
	a := newTest(t, addr, clock, nil)
	for deadline := time.Now().Add(5 * time.Second); b.Resyncs() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b never subscribed")
		}
	}

	proxy.stall()
	c := Cooldown{ID: "0abc", Until: now.Add(time.Minute).UnixNano(), Class: 2}
	a.Cooled(c)
	deadline := time.Now().Add(6 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never learnt the cooldown published after its subscription went silent (up %v)", b.Up())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0] != c {
		t.Errorf("b got %+v, want %+v", got[0], c)
	}
}
