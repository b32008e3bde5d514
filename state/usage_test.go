package state

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// lossyProxy is a TCP proxy in front of Redis that can lose what goes one way: with
// dropReplies, Redis still gets and runs every command but the client never hears back (a
// reply lost in the network); with dropRequests, no command reaches Redis.
type lossyProxy struct {
	l                         net.Listener
	target                    string
	dropReplies, dropRequests atomic.Bool
	wg                        sync.WaitGroup
}

func newLossyProxy(t *testing.T, target string) *lossyProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { _ = l.Close(); p.wg.Wait() })
	return p
}

func (p *lossyProxy) addr() string { return p.l.Addr().String() }

func (p *lossyProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(s, c, &p.dropRequests)
		go p.pipe(c, s, &p.dropReplies)
	}
}

// pipe copies from src to dst, discarding what it reads while drop is set; it closes both
// ends when either does.
func (p *lossyProxy) pipe(dst, src net.Conn, drop *atomic.Bool) {
	defer p.wg.Done()
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !drop.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// A flush that Redis applied but whose reply was lost is written again after the reconnect,
// and counted once; one whose command never reached Redis is counted once too, and the next
// batch after them still counts.
func TestUsageFlushCountsOnceWhenTheReplyIsLost(t *testing.T) {
	addr := testRedis(t)
	proxy := newLossyProxy(t, addr)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r, err := New(Config{Addrs: []string{proxy.addr()}, Prefix: "s:", DialTimeout: time.Second,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, FlushInterval: time.Hour},
		Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(func() { _ = r.Close() })
	direct := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer direct.Close()
	requests := func() int64 {
		t.Helper()
		n, err := direct.HGet(context.Background(), "s:usage:2026-01-01", "model:m:requests").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		return n
	}
	k := UsageKey{Model: "m", Provider: "p", Client: "alice"}
	flush := func(want int64, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !r.Up() { // a failed flush marked Redis down; the monitor finds it again
			if time.Now().After(deadline) {
				t.Fatalf("%s: Redis not up again", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.FlushUsage()
		if got := requests(); got != want {
			t.Fatalf("%s: %d requests counted, want %d", what, got, want)
		}
	}

	r.AddUsage(k, 10, 5, 0)
	flush(1, "a plain flush")

	proxy.dropReplies.Store(true)
	r.AddUsage(k, 10, 5, 0)
	r.FlushUsage()
	if r.Up() {
		t.Fatal("a flush without a reply did not fail")
	}
	// The proxy forwards the command while the client waits for the reply it drops: on a
	// loaded machine it may reach Redis only after the client gave up.
	for deadline := time.Now().Add(5 * time.Second); requests() != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Redis did not apply the flush whose reply was lost: %d requests", requests())
		}
	}
	proxy.dropReplies.Store(false)
	flush(2, "the retry of a flush Redis applied")

	proxy.dropRequests.Store(true)
	r.AddUsage(k, 10, 5, 0)
	r.FlushUsage()
	if r.Up() {
		t.Fatal("a flush that never reached Redis did not fail")
	}
	proxy.dropRequests.Store(false)
	flush(3, "the retry of a flush Redis never got")

	r.AddUsage(k, 10, 5, 0)
	flush(4, "the next flush")
	in, _ := direct.HGet(context.Background(), "s:usage:2026-01-01", "client:alice:tokens_in").Int64()
	if in != 40 {
		t.Errorf("tokens_in %d, want 40", in)
	}
}

// Redis can refuse a usage flush with an error reply rather than fail the connection: NOSCRIPT
// after a SCRIPT FLUSH (the script is sent again), OOM while it is over maxmemory (the batch is
// tried again, and counted once when Redis takes it), WRONGTYPE when the day's key holds
// another kind of value (the batch can never be applied: it is dropped after maxUsageTries,
// with an error line, so the usage counted after it still reaches Redis). None of them marks
// Redis down: its other commands still work.
func TestUsageFlushErrorReplies(t *testing.T) {
	addr := testRedis(t)
	day1 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(day1.UnixNano())
	core, logs := observer.New(zap.InfoLevel)
	var refused, dropped atomic.Int64
	r, err := New(Config{Addrs: []string{addr}, Prefix: "s:", Password: "", ReadTimeout: time.Second, WriteTimeout: time.Second,
		FlushInterval: time.Hour}, Options{Now: func() time.Time { return time.Unix(0, now.Load()).UTC() }, Logger: zap.New(core),
		OnUsageRefused: func(drop bool) {
			refused.Add(1)
			if drop {
				dropped.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	direct := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer direct.Close()
	requests := func(day string) int64 {
		t.Helper()
		n, err := direct.HGet(ctx, "s:usage:"+day, "model:m:requests").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		return n
	}
	k := UsageKey{Model: "m", Provider: "p", Client: "alice"}
	flush := func(want int64, what string) {
		t.Helper()
		r.FlushUsage()
		if got := requests("2026-01-01"); got != want {
			t.Fatalf("%s: %d requests counted, want %d", what, got, want)
		}
		if !r.Up() {
			t.Fatalf("%s: an error reply marked Redis down", what)
		}
	}

	r.AddUsage(k, 10, 5, 0)
	flush(1, "a plain flush")
	if err := direct.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r.AddUsage(k, 10, 5, 0)
	flush(2, "a flush after SCRIPT FLUSH")

	if err := direct.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	r.AddUsage(k, 10, 5, 0)
	flush(2, "a flush Redis refused with OOM")
	r.AddUsage(k, 10, 5, 0)
	flush(2, "the retry while Redis is still out of memory")
	if err := direct.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	flush(4, "the retry once Redis has memory again, then the usage counted meanwhile")
	if refused.Load() != 2 || dropped.Load() != 0 {
		t.Errorf("%d refusals, %d dropped; want 2, 0", refused.Load(), dropped.Load())
	}

	if err := direct.Del(ctx, "s:usage:2026-01-01").Err(); err != nil {
		t.Fatal(err)
	}
	if err := direct.Set(ctx, "s:usage:2026-01-01", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.AddUsage(k, 10, 5, 0)
	for range maxUsageTries {
		r.FlushUsage()
	}
	if dropped.Load() != 1 {
		t.Errorf("%d batches dropped after %d refusals of the day's key, want 1", dropped.Load(), maxUsageTries)
	}
	drops := logs.FilterMessageSnippet("dropped").All()
	if len(drops) != 1 || drops[0].Level != zap.ErrorLevel || !strings.Contains(drops[0].ContextMap()["error"].(string), "WRONGTYPE") {
		t.Errorf("want one error line for the dropped batch, with Redis' error; got %v", drops)
	}
	now.Store(day1.Add(24 * time.Hour).UnixNano())
	r.AddUsage(k, 10, 5, 0)
	r.FlushUsage()
	if got := requests("2026-01-02"); got != 1 {
		t.Errorf("the usage after the dropped batch: %d requests counted, want 1", got)
	}
}
