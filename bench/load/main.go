// Command load is the load generator of the loopback benchmark (bench/run.sh). Each run prints
// one JSON line on stdout.
//
//	load -mode sat    -url URL -c 32 -d 5s           closed loop: C keep-alive workers -> req/s
//	load -mode rate   -url URL -rate 1000 -d 5s      open loop: latency from the scheduled send time
//	load -mode stream -url URL -n 1000 -c 8          streamed requests: TTFB of the first event, truncations
//	load -mode stream1 -url URL -n 1000              the same, one stream at a time: latency without queueing
//	load -mode report -in results.jsonl              the summary table of a whole run
//	load -mode ports  -n 6                           free loopback ports, one a line
//
// With -pids name=PID,... a run also reports the CPU seconds (utime+stime from /proc/PID/stat)
// each process spent inside the measured window; with -rsspid PID it samples that process's
// VmRSS during the run and reports the peak.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one run's JSON line. Latencies are in milliseconds.
type Result struct {
	Mode   string `json:"mode"`
	Target string `json:"target,omitempty"`
	Round  int    `json:"round"`
	URL    string `json:"url,omitempty"`

	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`

	Concurrency int     `json:"concurrency,omitempty"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	Late        int64   `json:"late,omitempty"` // rate mode: requests sent >1 ms after their scheduled time

	P50 float64 `json:"p50_ms,omitempty"`
	P90 float64 `json:"p90_ms,omitempty"`
	P99 float64 `json:"p99_ms,omitempty"`
	Max float64 `json:"max_ms,omitempty"`

	TTFB50    float64 `json:"ttfb_p50_ms,omitempty"`
	TTFB99    float64 `json:"ttfb_p99_ms,omitempty"`
	Dur50     float64 `json:"stream_p50_ms,omitempty"`
	Events    int64   `json:"events,omitempty"`
	Truncated int64   `json:"truncated"`
	// BadText counts streams that ended well but whose assembled text is not the numbered
	// chunks " t0" ... of the cut profile (-text): a seam a client could see.
	BadText int64 `json:"bad_text,omitempty"`
	// FirstBadText is the first such text, for a look.
	FirstBadText string `json:"first_bad_text,omitempty"`

	CPU map[string]float64 `json:"cpu_s,omitempty"`

	RSSStartKB int64 `json:"rss_start_kb,omitempty"`
	RSSPeakKB  int64 `json:"rss_peak_kb,omitempty"`
	RSSEndKB   int64 `json:"rss_end_kb,omitempty"`
	HWMKB      int64 `json:"hwm_kb,omitempty"`

	FirstError string `json:"first_error,omitempty"`
}

func main() {
	mode := flag.String("mode", "sat", "sat, rate, stream, stream1, report or ports")
	url := flag.String("url", "", "endpoint, e.g. http://127.0.0.1:9102/v1/chat/completions")
	target := flag.String("target", "", "label of the target in the output")
	round := flag.Int("round", 0, "round number in the output")
	conc := flag.Int("c", 32, "concurrent workers (sat, stream)")
	dur := flag.Duration("d", 5*time.Second, "duration (sat, rate)")
	rate := flag.Float64("rate", 1000, "requests per second (rate)")
	n := flag.Int("n", 1000, "streamed requests (stream); ports to print (ports)")
	model := flag.String("model", "bench-model", "model in the request body")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	pids := flag.String("pids", "", "name=PID,... whose CPU time to measure")
	rssPid := flag.Int("rsspid", 0, "PID whose VmRSS to sample during the run")
	clk := flag.Float64("clk", 100, "clock ticks per second (getconf CLK_TCK)")
	in := flag.String("in", "", "JSON lines to summarise (report)")
	stopAfter := flag.Duration("stopafter", 0, "stream: start no new stream after this long (0: no limit)")
	flag.IntVar(&wantChunks, "text", 0, "stream: check each stream's text is the N numbered chunks of bench/upstream -cut-every")
	flag.Parse()

	switch *mode {
	case "ports":
		printPorts(*n)
		return
	case "report":
		if err := report(*in, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		return
	case "sat", "rate", "stream":
	case "stream1":
		*conc = 1
	default:
		fmt.Fprintln(os.Stderr, "unknown -mode", *mode)
		os.Exit(2)
	}
	if !strings.HasPrefix(*url, "http://127.0.0.1:") {
		fmt.Fprintln(os.Stderr, "-url must be http://127.0.0.1:PORT/...: this benchmark sends loopback traffic only")
		os.Exit(2)
	}
	// Bounds: every loop below is bounded in count and time.
	*conc = min(max(*conc, 1), 5000)
	*n = min(max(*n, 1), 100000)
	*dur = min(max(*dur, 100*time.Millisecond), 10*time.Minute)
	*rate = min(max(*rate, 1), 100000)

	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        10000,
		MaxIdleConnsPerHost: 10000,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: *timeout}
	procs := parsePids(*pids)

	res := Result{Mode: *mode, Target: *target, Round: *round, URL: *url}
	var sampler *rssSampler
	if *rssPid > 0 {
		sampler = startRSS(*rssPid)
	}
	cpu0 := cpuTimes(procs, *clk)
	switch *mode {
	case "sat":
		saturate(client, *url, body(*model, false), *conc, *dur, &res)
	case "rate":
		fixedRate(client, *url, body(*model, false), *rate, *dur, &res)
	case "stream", "stream1":
		streams(client, *url, body(*model, true), *n, *conc, *timeout, *stopAfter, &res)
	}
	cpu1 := cpuTimes(procs, *clk)
	if len(procs) > 0 {
		res.CPU = map[string]float64{}
		for name := range procs {
			res.CPU[name] = round3(cpu1[name] - cpu0[name])
		}
	}
	if sampler != nil {
		res.RSSStartKB, res.RSSPeakKB, res.RSSEndKB = sampler.stop()
		res.HWMKB = statusKB(*rssPid, "VmHWM:")
	}
	tr.CloseIdleConnections()
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// body is a chat completion request of about 1 KB.
func body(model string, stream bool) []byte {
	filler := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 17)
	var b bytes.Buffer
	b.WriteString(`{"model":`)
	m, _ := json.Marshal(model)
	b.Write(m)
	b.WriteString(`,"messages":[{"role":"system","content":"You are a terse assistant used by a load benchmark."},`)
	b.WriteString(`{"role":"user","content":"`)
	b.WriteString(filler)
	b.WriteString(`Say hello."}],"temperature":0.2,"max_tokens":64`)
	if stream {
		b.WriteString(`,"stream":true`)
	}
	b.WriteString(`}`)
	return b.Bytes()
}

// do sends one request and reads its reply whole; it reports whether the reply was a 2xx.
func do(client *http.Client, url string, payload []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

type errCount struct {
	n     atomic.Int64
	once  sync.Once
	first string
}

func (e *errCount) add(err error) {
	e.n.Add(1)
	e.once.Do(func() { e.first = err.Error() })
}

// saturate runs conc closed-loop workers for dur.
func saturate(client *http.Client, url string, payload []byte, conc int, dur time.Duration, res *Result) {
	var ok atomic.Int64
	var errs errCount
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for range conc {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := do(client, url, payload); err != nil {
					errs.add(err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	res.Concurrency = conc
	res.Requests = ok.Load() + errs.n.Load()
	res.Errors = errs.n.Load()
	res.FirstError = errs.first
	res.Seconds = round3(el)
	res.RPS = round1(float64(ok.Load()) / el)
}

// fixedRate sends rate requests a second for dur on an open-loop schedule: request i is due at
// start + i/rate whether or not earlier ones have answered, and its latency counts from that due
// time, so a stalled server is charged for the requests it kept waiting (no coordinated
// omission). In-flight requests are capped; a request waiting for a slot is still timed from its
// due time.
func fixedRate(client *http.Client, url string, payload []byte, rate float64, dur time.Duration, res *Result) {
	total := int(rate * dur.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, total)
	failed := make([]bool, total)
	var errs errCount
	var late atomic.Int64
	sem := make(chan struct{}, 4096)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if time.Since(due) > time.Millisecond {
				late.Add(1)
			}
			err := do(client, url, payload)
			lat[i] = time.Since(due)
			if err != nil {
				failed[i] = true
				errs.add(err)
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	ok := make([]time.Duration, 0, total)
	for i, d := range lat {
		if !failed[i] {
			ok = append(ok, d)
		}
	}
	res.TargetRate = rate
	res.Requests = int64(total)
	res.Errors = errs.n.Load()
	res.FirstError = errs.first
	res.Late = late.Load()
	res.Seconds = round3(el)
	res.RPS = round1(float64(len(ok)) / el)
	res.P50, res.P90, res.P99, res.Max = pct(ok, 50), pct(ok, 90), pct(ok, 99), pct(ok, 100)
}

var (
	dataPrefix = []byte("data:")
	doneData   = []byte("[DONE]")
	errorKey   = []byte(`"error"`)
)

// streams sends n streamed requests, conc at a time. TTFB is the time from sending to the end
// of the first data event. A stream is truncated when it ends without [DONE] or carries an
// error event.
func streams(client *http.Client, url string, payload []byte, n, conc int, timeout, stopAfter time.Duration, res *Result) {
	ttfb := make([]time.Duration, n)
	total := make([]time.Duration, n)
	good := make([]bool, n)
	var next, events, truncated, badText atomic.Int64
	var firstBad atomic.Value
	var errs errCount
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, n) {
		wg.Go(func() {
			for {
				if stopAfter > 0 && time.Since(start) > stopAfter {
					return
				}
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				var text *strings.Builder
				if wantChunks > 0 {
					text = new(strings.Builder)
				}
				ev, ok, err := oneStream(client, url, payload, timeout, &ttfb[i], &total[i], text)
				events.Add(ev)
				switch {
				case err != nil:
					errs.add(err)
				case !ok:
					truncated.Add(1)
				case text != nil && text.String() != expectedText():
					if badText.Add(1) == 1 {
						firstBad.Store(text.String())
					}
				default:
					good[i] = true
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	var t1, t2 []time.Duration
	for i := range n {
		if good[i] {
			t1 = append(t1, ttfb[i])
			t2 = append(t2, total[i])
		}
	}
	res.Concurrency = conc
	res.Requests = min(next.Load(), int64(n))
	res.Errors = errs.n.Load()
	res.FirstError = errs.first
	res.Truncated = truncated.Load()
	res.BadText = badText.Load()
	if v, ok := firstBad.Load().(string); ok {
		res.FirstBadText = v
	}
	res.Events = events.Load()
	res.Seconds = round3(el)
	res.RPS = round1(float64(len(t1)) / el)
	res.TTFB50, res.TTFB99 = pct(t1, 50), pct(t1, 99)
	res.Dur50 = pct(t2, 50)
}

// oneStream reads one streamed reply. err is a failure before the stream began (status, connect);
// ok is false when the stream began but did not end with [DONE], or carried an error event.
//
// text, when not nil, gets the stream's content (-text).
func oneStream(client *http.Client, url string, payload []byte, timeout time.Duration, ttfb, total *time.Duration, text *strings.Builder) (events int64, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return 0, false, fmt.Errorf("status %d", resp.StatusCode)
	}
	br := bufio.NewReaderSize(resp.Body, 16<<10)
	done, bad := false, false
	for range 1_000_000 { // bounded: far more lines than any reply here has
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, dataPrefix) {
			data := bytes.TrimSpace(line[len(dataPrefix):])
			if events == 0 {
				*ttfb = time.Since(t0)
			}
			events++
			if bytes.Equal(data, doneData) {
				done = true
			} else if bytes.HasPrefix(data, []byte(`{"error"`)) || (bytes.Contains(data, errorKey) && isErrorEvent(data)) {
				bad = true
			} else if text != nil {
				appendContent(text, data)
			}
		}
		// A line longer than the buffer: skip the rest of it; only its start matters here.
		for range 10_000 {
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			break
		}
	}
	*total = time.Since(t0)
	return events, done && !bad, nil
}

// isErrorEvent reports whether a JSON event has a top-level "error" object.
func isErrorEvent(data []byte) bool {
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	return len(v.Error) > 0 && v.Error[0] == '{'
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return round3(float64(s[i]) / 1e6)
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// parsePids parses name=PID,name=PID.
func parsePids(s string) map[string]int {
	m := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		name, pid, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			continue
		}
		if p, err := strconv.Atoi(pid); err == nil && p > 0 {
			m[name] = p
		}
	}
	return m
}

// cpuTimes returns utime+stime in seconds of each process.
func cpuTimes(procs map[string]int, clk float64) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range procs {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields count from after its closing parenthesis.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		// f[0] is field 3 (state); utime is field 14, stime field 15.
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[name] = (ut + st) / clk
	}
	return out
}

// statusKB reads one kB field of /proc/PID/status.
func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

type rssSampler struct {
	pid              int
	start, peak, end int64
	quit, done       chan struct{}
}

func startRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, quit: make(chan struct{}), done: make(chan struct{})}
	s.start = statusKB(pid, "VmRSS:")
	s.peak = s.start
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				s.peak = max(s.peak, statusKB(pid, "VmRSS:"))
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() (start, peak, end int64) {
	close(s.quit)
	<-s.done
	s.end = statusKB(s.pid, "VmRSS:")
	return s.start, max(s.peak, s.end), s.end
}

func printPorts(n int) {
	var ls []net.Listener
	for range min(max(n, 1), 64) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ls = append(ls, l)
	}
	for _, l := range ls {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
}

// wantChunks is -text: the numbered chunks each stream must carry.
var wantChunks int

var expected struct {
	once sync.Once
	text string
}

func expectedText() string {
	expected.once.Do(func() {
		var b strings.Builder
		for i := range wantChunks {
			b.WriteString(" t" + strconv.Itoa(i))
		}
		expected.text = b.String()
	})
	return expected.text
}

// appendContent adds a chunk's delta content to text.
func appendContent(text *strings.Builder, data []byte) {
	var ch struct {
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal(data, &ch) == nil {
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
}
