// Command upstream is a fake OpenAI chat completions server for the loopback load benchmark
// (bench/run.sh). It answers POST /v1/chat/completions from precomputed bytes: a whole
// completion, or, when the body contains "stream":true, -chunks SSE chunks -delay apart, a
// usage chunk and [DONE]. It decodes no JSON, so its own cost stays small and constant.
//
// With -tls-addr it serves the same over TLS too (HTTP/2 offered in ALPN, as hosted APIs
// do), with a certificate from a CA made at start and written to -tls-dir/ca.pem, so that
// the proxies under test can be told to trust it.
//
//	go run ./bench/upstream -addr 127.0.0.1:9101 -chunks 20 -delay 0 [-tls-addr 127.0.0.1:9102 -tls-dir DIR]
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/llmrouter/caddy-llm-router/internal/testpki"
)

var (
	completion = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-1",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},` +
		`"finish_reason":"stop"}],"usage":{"prompt_tokens":200,"completion_tokens":8,"total_tokens":208}}`)
	chunk = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-1",` +
		`"choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}` + "\n\n")
	finish = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-1",` +
		`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
		`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-1",` +
		`"choices":[],"usage":{"prompt_tokens":200,"completion_tokens":20,"total_tokens":220}}` + "\n\n" +
		"data: [DONE]\n\n")
	streamTrue  = []byte(`"stream":true`)
	streamTrue2 = []byte(`"stream": true`)

	jsonType  = []string{"application/json"}
	sseType   = []string{"text/event-stream"}
	noCache   = []string{"no-cache"}
	wholeLen  = []string{strconv.Itoa(len(completion))}
	notFound  = []byte(`{"error":{"message":"the benchmark upstream serves only POST /v1/chat/completions","type":"invalid_request_error"}}`)
	served    atomic.Int64
	streaming atomic.Int64
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address (loopback only)")
	chunks := flag.Int("chunks", 20, "content chunks per streamed reply")
	delay := flag.Duration("delay", 0, "pause between streamed chunks")
	tlsAddr := flag.String("tls-addr", "", "also serve over TLS on this address (loopback only)")
	tlsDir := flag.String("tls-dir", "", "with -tls-addr: directory for ca.pem, the CA to trust")
	cutEvery := flag.Int("cut-every", 0, "cut every Nth stream mid-way (its connection aborted); numbered chunks; 0: off")
	flag.Parse()
	if *chunks < 0 || *chunks > 100000 {
		log.Fatal("-chunks must be between 0 and 100000")
	}

	// The whole streamed body when there is no delay: one write.
	var whole bytes.Buffer
	for range *chunks {
		whole.Write(chunk)
	}
	whole.Write(finish)
	streamBody := whole.Bytes()
	const maxBody = 1 << 20
	var bodyBuf = make(chan []byte, 1024)

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || (r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/chat/completions") {
			w.Header()["Content-Type"] = jsonType
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write(notFound)
			return
		}
		var buf []byte
		select {
		case buf = <-bodyBuf:
		default:
			buf = make([]byte, 0, 4096)
		}
		b := bytes.NewBuffer(buf[:0])
		_, err := b.ReadFrom(io.LimitReader(r.Body, maxBody))
		body := b.Bytes()
		isStream := bytes.Contains(body, streamTrue) || bytes.Contains(body, streamTrue2)
		var kept []byte
		if *cutEvery > 0 && isStream {
			kept = bytes.Clone(body) // read below, when the buffer is back in the pool
		}
		select {
		case bodyBuf <- body[:0]:
		default:
		}
		if err != nil {
			return
		}
		served.Add(1)
		if *cutEvery > 0 && isStream {
			serveCuttable(w, r, kept, *chunks, *cutEvery)
			return
		}
		hdr := w.Header()
		if !isStream {
			hdr["Content-Type"] = jsonType
			hdr["Content-Length"] = wholeLen
			_, _ = w.Write(completion)
			return
		}
		hdr["Content-Type"] = sseType
		hdr["Cache-Control"] = noCache
		if *delay <= 0 {
			// One write, flushed as a provider's SSE server flushes what it wrote, so the stream
			// has no Content-Length: without the flush, net/http's HTTP/2 server (which buffers
			// 4 KiB) would see the handler end first and declare one, and a proxy could pass the
			// reply on as one fixed-length write, which no real provider's stream allows.
			_, _ = w.Write(streamBody)
			_ = http.NewResponseController(w).Flush()
			return
		}
		streaming.Add(1)
		defer streaming.Add(-1)
		rc := http.NewResponseController(w)
		w.WriteHeader(http.StatusOK)
		t := time.NewTimer(*delay)
		defer t.Stop()
		for i := range *chunks {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			if i == *chunks-1 {
				break
			}
			t.Reset(*delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		_, _ = w.Write(finish)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	var tlsSrv *http.Server
	if *tlsAddr != "" {
		tln, err := listenTLS(*tlsAddr, *tlsDir)
		if err != nil {
			log.Fatal(err)
		}
		tlsSrv = &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0),
		}
		go func() {
			if err := tlsSrv.Serve(tln); err != nil && err != http.ErrServerClosed {
				log.Fatal(err)
			}
		}()
		fmt.Fprintf(os.Stderr, "upstream: TLS on %s, CA in %s\n", tln.Addr(), filepath.Join(*tlsDir, "ca.pem"))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		_ = srv.Close()
		if tlsSrv != nil {
			_ = tlsSrv.Close()
		}
	}()
	fmt.Fprintf(os.Stderr, "upstream: listening on %s (chunks=%d delay=%s)\n", ln.Addr(), *chunks, *delay)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "upstream: served %d requests\n", served.Load())
}

// listenTLS makes a CA and a certificate for 127.0.0.1, writes the CA to dir/ca.pem (written
// last, under a temporary name first, so whoever waits for the file finds it whole), and
// returns a TLS listener that offers h2 and http/1.1.
func listenTLS(addr, dir string) (net.Listener, error) {
	if dir == "" {
		return nil, fmt.Errorf("-tls-addr needs -tls-dir")
	}
	ca, err := testpki.NewCA("llm_router bench CA")
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Server("127.0.0.1")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	tmp, err := testpki.Write(dir, "ca.pem.tmp", ca.PEM)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "ca.pem")); err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, NextProtos: []string{"h2", "http/1.1"}}
	return tls.NewListener(ln, cfg), nil
}

// The cut profile (-cut-every N): streams of numbered chunks (" t0", " t1", ...), every Nth of
// them aborted after half its chunks, the way a provider's connection breaks. A continuation
// request (its last message an assistant turn with "prefix": true, as the router sends to a
// provider that declares `continuation prefix`) gets the chunks that follow the text it
// carries, and is never cut. The client can so check that the text it assembled is whole.
var streamsSeen atomic.Int64

func numbered(i int) []byte {
	return []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-1",` +
		`"choices":[{"index":0,"delta":{"content":" t` + strconv.Itoa(i) + `"},"finish_reason":null}]}` + "\n\n")
}

func serveCuttable(w http.ResponseWriter, r *http.Request, body []byte, chunks, every int) {
	from, cut := 0, -1
	if bytes.Contains(body, []byte(`"prefix":true`)) {
		var req struct {
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		if json.Unmarshal(body, &req) == nil && len(req.Messages) > 0 {
			from = strings.Count(req.Messages[len(req.Messages)-1].Content, " t")
		}
	} else if streamsSeen.Add(1)%int64(every) == 0 {
		cut = chunks / 2
	}
	w.Header()["Content-Type"] = sseType
	w.Header()["Cache-Control"] = noCache
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i := from; i < chunks; i++ {
		if i == cut {
			_ = rc.Flush()
			panic(http.ErrAbortHandler) // the connection is closed with no end of the stream
		}
		if _, err := w.Write(numbered(i)); err != nil {
			return
		}
	}
	_, _ = w.Write(finish)
}
