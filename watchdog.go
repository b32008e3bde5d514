package llmrouter

import (
	"context"
	"io"
	"sync/atomic"
	"time"
)

// watchdog cancels an upstream call whose reply does not come, or stops coming. It runs on the
// runtime's timer heap: no goroutine per request.
type watchdog struct {
	src   io.Reader
	timer *time.Timer
	fired atomic.Bool
	// why says what bound fired, for the attempt's failure reason. It changes only on the
	// reading goroutine, which alone reads it after the timer fired.
	why string
	// idle, when set, bounds each wait for the upstream: the timer runs only while a read of
	// it is in progress, so the time the relay spends writing to a client that reads slowly
	// is not counted as the upstream's silence. It is only touched by the goroutine that reads.
	idle time.Duration
	// beforeRead, when set, is flushed before each read of the upstream: the stream relay
	// sends what it wrote there, just before it may wait. (A pointer, not a method value: no
	// closure per stream.)
	beforeRead *lazyFlusher
	// ending says the stream's terminator was relayed: the timer bounds the upstream's close.
	ending bool
}

// startWatchdog cancels the call when t runs out; set src before reading through it.
func startWatchdog(t timeout, cancel context.CancelFunc) *watchdog {
	return startBodyWatchdog(t, cancel, nil)
}

// startBodyWatchdog bounds the reading of a reply's body: when t runs out it cancels the call,
// or, when cancel is nil, closes body, which ends a blocked read of a net/http reply.
func startBodyWatchdog(t timeout, cancel context.CancelFunc, body io.Closer) *watchdog {
	wd := &watchdog{why: t.why}
	wd.timer = time.AfterFunc(t.d, func() {
		wd.fired.Store(true)
		if cancel != nil {
			cancel()
		} else {
			_ = body.Close()
		}
	})
	return wd
}

func (wd *watchdog) Read(p []byte) (int, error) {
	if wd.beforeRead != nil {
		if err := wd.beforeRead.flush(); err != nil {
			return 0, err
		}
	}
	if wd.idle == 0 {
		return wd.src.Read(p)
	}
	wd.timer.Reset(wd.idle)
	n, err := wd.src.Read(p)
	wd.timer.Stop()
	return n, err
}

// waitEach makes idle the bound of each wait for the upstream from the next read on (see
// idle), with why as its reason; what bound the watchdog until now stops.
func (wd *watchdog) waitEach(idle time.Duration, why string) {
	wd.idle, wd.why = idle, why
	wd.timer.Stop()
}

// streamEnded bounds what is left of a stream whose terminator was relayed, its upstream's
// close, by grace: the answer is whole, so an upstream that keeps the stream open after it
// is cancelled then, not after stream_idle_timeout. What it sends meanwhile does not rearm
// the bound.
func (wd *watchdog) streamEnded(grace time.Duration) {
	if wd.ending {
		return
	}
	wd.ending, wd.idle, wd.why = true, 0, "upstream kept its stream open after its end"
	wd.timer.Reset(grace)
}

func (wd *watchdog) stop() { wd.timer.Stop() }
