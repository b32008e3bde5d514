package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// The targets of the comparison, in report order; a run reports those it measured. Memory
// runs are labelled mem_<target>.
var targets = []string{"direct", "reverse_proxy", "llm_router", "reverse_proxy_tls", "llm_router_tls", "llm_router_h1", "reverse_proxy_tls11", "llm_router_tls11"}

// pairs are the ratios reported: the router against reverse_proxy on each upstream scheme.
var pairs = []struct{ a, b, label string }{
	{"llm_router", "reverse_proxy", "http:// upstream"},
	{"llm_router_tls", "reverse_proxy_tls", "https:// upstream"},
	{"llm_router", "llm_router_h1", "http:// upstream, net/http vs h1"},
	{"llm_router_tls11", "reverse_proxy_tls", "https:// upstream, the router on HTTP/1.1 over TLS"},
	{"llm_router_tls11", "reverse_proxy_tls11", "https:// upstream, both on HTTP/1.1 over TLS"},
	{"reverse_proxy_tls11", "reverse_proxy_tls", "https:// upstream, reverse_proxy on HTTP/1.1 vs HTTP/2"},
}

// report summarises a run's JSON lines: medians over rounds per target, added latency paired
// with the direct run of the same round, CPU per request, and llm_router / reverse_proxy ratios.
func report(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var rs []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r Result
		if json.Unmarshal([]byte(line), &r) == nil && r.Mode != "" {
			rs = append(rs, r)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}

	pick := func(mode, target string) []Result {
		var out []Result
		for _, r := range rs {
			if r.Mode == mode && r.Target == target && r.Round > 0 {
				out = append(out, r)
			}
		}
		return out
	}
	byRound := func(mode, target string) map[int]Result {
		m := map[int]Result{}
		for _, r := range pick(mode, target) {
			m[r.Round] = r
		}
		return m
	}
	// paired returns, per round where both exist, fn(target's run, direct's run).
	paired := func(mode, target string, fn func(t, d Result) float64) []float64 {
		d := byRound(mode, "direct")
		var out []float64
		for round, r := range byRound(mode, target) {
			if dr, ok := d[round]; ok {
				out = append(out, fn(r, dr))
			}
		}
		return out
	}
	vals := func(rs []Result, fn func(Result) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = fn(r)
		}
		return out
	}
	cpuPer := func(rs []Result, proc string) float64 {
		var cpu float64
		var n int64
		for _, r := range rs {
			cpu += r.CPU[proc]
			n += r.Requests - r.Errors
		}
		if n == 0 {
			return 0
		}
		return cpu / float64(n) * 1e6 // microseconds
	}
	sum := func(rs []Result, fn func(Result) int64) int64 {
		var s int64
		for _, r := range rs {
			s += fn(r)
		}
		return s
	}

	type row struct {
		rps, rpsLo, rpsHi            float64
		p50, p90, p99, added         float64
		ttfb50, ttfb99, addedTTFB    float64
		ttfb1, addedTTFB1            float64 // one stream at a time
		streamMs                     float64
		cpuReq, upReq, cpuStr, upStr float64
		errors, truncated, late      int64
		rounds                       int
	}
	rows := map[string]row{}
	for _, t := range targets {
		sat, rate, st, st1 := pick("sat", t), pick("rate", t), pick("stream", t), pick("stream1", t)
		rps := vals(sat, func(r Result) float64 { return r.RPS })
		rows[t] = row{
			rps: median(rps), rpsLo: minOf(rps), rpsHi: maxOf(rps),
			p50:        median(vals(rate, func(r Result) float64 { return r.P50 })),
			p90:        median(vals(rate, func(r Result) float64 { return r.P90 })),
			p99:        median(vals(rate, func(r Result) float64 { return r.P99 })),
			added:      median(paired("rate", t, func(a, d Result) float64 { return a.P50 - d.P50 })),
			ttfb50:     median(vals(st, func(r Result) float64 { return r.TTFB50 })),
			ttfb99:     median(vals(st, func(r Result) float64 { return r.TTFB99 })),
			addedTTFB:  median(paired("stream", t, func(a, d Result) float64 { return a.TTFB50 - d.TTFB50 })),
			streamMs:   median(vals(st, func(r Result) float64 { return r.Dur50 })),
			ttfb1:      median(vals(st1, func(r Result) float64 { return r.TTFB50 })),
			addedTTFB1: median(paired("stream1", t, func(a, d Result) float64 { return a.TTFB50 - d.TTFB50 })),
			cpuReq:     cpuPer(sat, "caddy"), upReq: cpuPer(sat, "upstream"),
			cpuStr: cpuPer(st, "caddy"), upStr: cpuPer(st, "upstream"),
			errors:    sum(slices.Concat(sat, rate, st, st1), func(r Result) int64 { return r.Errors }),
			truncated: sum(slices.Concat(st, st1), func(r Result) int64 { return r.Truncated }),
			late:      sum(rate, func(r Result) int64 { return r.Late }),
			rounds:    len(sat),
		}
	}

	fmt.Fprintln(w, "| target | req/s sat (median [min..max]) | p50 ms | p90 ms | p99 ms | added p50 ms | TTFB p50 ms | TTFB p99 ms | added TTFB ms | TTFB p50 ms, one at a time | Caddy CPU us/req | Caddy CPU us/stream | upstream CPU us/req | errors | truncated |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, t := range targets {
		r := rows[t]
		if r.rounds == 0 {
			continue
		}
		cr, cs := fmt.Sprintf("%.1f", r.cpuReq), fmt.Sprintf("%.1f", r.cpuStr)
		if t == "direct" {
			cr, cs = "-", "-"
		}
		fmt.Fprintf(w, "| %s | %.0f [%.0f..%.0f] | %.3f | %.3f | %.3f | %s | %.3f | %.3f | %s | %.3f | %s | %s | %.1f | %d | %d |\n",
			t, r.rps, r.rpsLo, r.rpsHi, r.p50, r.p90, r.p99, addedStr(t, r.added), r.ttfb50, r.ttfb99,
			addedStr(t, r.addedTTFB), r.ttfb1, cr, cs, r.upReq, r.errors, r.truncated)
	}

	// Ratios per pair; throughput also per round, to show the spread.
	for _, pr := range pairs {
		a, b := rows[pr.a], rows[pr.b]
		if a.rounds == 0 || b.rounds == 0 {
			continue
		}
		ra, rb := byRound("sat", pr.a), byRound("sat", pr.b)
		var per []float64
		for round, x := range ra {
			if y, ok := rb[round]; ok && y.RPS > 0 {
				per = append(per, x.RPS/y.RPS)
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%s / %s (%s):\n", pr.a, pr.b, pr.label)
		fmt.Fprintf(w, "  throughput       %.3f  (per round: median %.3f, min %.3f, max %.3f)\n",
			ratio(a.rps, b.rps), median(per), minOf(per), maxOf(per))
		fmt.Fprintf(w, "  added p50        %.3f  (%.3f ms vs %.3f ms)\n", ratio(a.added, b.added), a.added, b.added)
		fmt.Fprintf(w, "  added TTFB       %.3f  (%.3f ms vs %.3f ms)\n", ratio(a.addedTTFB, b.addedTTFB), a.addedTTFB, b.addedTTFB)
		if a.ttfb1 > 0 && b.ttfb1 > 0 {
			fmt.Fprintf(w, "  added TTFB, one stream at a time  %.3f  (%.3f ms vs %.3f ms)\n", ratio(a.addedTTFB1, b.addedTTFB1), a.addedTTFB1, b.addedTTFB1)
		}
		fmt.Fprintf(w, "  CPU / request    %.3f  (%.1f us vs %.1f us)\n", ratio(a.cpuReq, b.cpuReq), a.cpuReq, b.cpuReq)
		fmt.Fprintf(w, "  CPU / stream     %.3f  (%.1f us vs %.1f us)\n", ratio(a.cpuStr, b.cpuStr), a.cpuStr, b.cpuStr)
	}
	var late int64
	for _, t := range targets {
		late += rows[t].late
	}
	if late > 0 {
		fmt.Fprintf(w, "\nnote: %d fixed-rate requests left >1 ms after their scheduled time (load generator or server behind; their latency counts from the schedule)\n", late)
	}

	var hwm int64
	for _, r := range rs {
		if r.Round > 0 && !strings.HasPrefix(r.Target, "mem_") {
			hwm = max(hwm, r.HWMKB)
		}
	}
	if hwm > 0 {
		fmt.Fprintf(w, "\nCaddy VmHWM after the rounds (one process serves both proxies): %.1f MiB\n", float64(hwm)/1024)
	}
	for _, r := range rs {
		if !strings.HasPrefix(r.Target, "mem_") {
			continue
		}
		per := 0.0
		if r.Requests > 0 {
			per = float64(r.RSSPeakKB-r.RSSStartKB) / float64(r.Requests)
		}
		fmt.Fprintf(w, "memory %s: %d concurrent streams, %.1f s each (median), Caddy VmRSS before %.1f MiB, peak %.1f MiB (+%.1f KiB/stream), after %.1f MiB; TTFB p50 %.1f ms p99 %.1f ms; errors %d, truncated %d\n",
			strings.TrimPrefix(r.Target, "mem_"), r.Requests, r.Dur50/1000, float64(r.RSSStartKB)/1024, float64(r.RSSPeakKB)/1024,
			per, float64(r.RSSEndKB)/1024, r.TTFB50, r.TTFB99, r.Errors, r.Truncated)
	}
	return nil
}

func addedStr(t string, v float64) string {
	if t == "direct" {
		return "-"
	}
	return fmt.Sprintf("%+.3f", v)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Min(v)
}

func maxOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}
