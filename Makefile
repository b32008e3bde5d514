# The two commands a newcomer needs: `make run` and `make test`.
CADDY_VERSION := v2.11.9
MODULE        := github.com/llmrouter/caddy-llm-router

.PHONY: run test vet bench fuzz clean

# Builds a Caddy with this module (xcaddy, pinned in go.mod as a Go tool) and serves
# example.Caddyfile: http://localhost:8080, answered by a local demo upstream.
run: caddy
	./caddy run --config example.Caddyfile --adapter caddyfile

caddy: go.mod go.sum $(shell find . -name '*.go' -not -name '*_test.go' -not -path './bench/*')
	go tool xcaddy build $(CADDY_VERSION) --with $(MODULE)@v0.0.0=. --output ./caddy

# Every test, race detector on. Tests that need Node or redis-server skip with a message when
# it is absent (and fail with CI=true).
# go test runs vet's standard checks itself; a separate `go vet` would compile Caddy's whole
# dependency tree a second time (without -race) and nearly double a cold run.
test:
	go test -race -count=1 ./...

# Every vet check (more than the subset go test runs).
vet:
	go vet ./...

# Micro-benchmarks of the hot path (not part of `make test`).
bench:
	go test -run '^$$' -bench . -benchmem ./...

# A short run of every fuzz target.
fuzz:
	@for pkg in . reqbody selector sse gate internal/redact internal/jsonscan dialect/anthropic dialect/responses dialect/gemini dialect/openai; do \
		for f in $$(go test -list '^Fuzz' ./$$pkg/ | grep '^Fuzz'); do \
			go test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s ./$$pkg/ || exit 1; \
		done; \
	done

clean:
	rm -f caddy

# Loopback load benchmark: upstream directly vs reverse_proxy vs llm_router, interleaved
# (not part of `make test`; about 3 minutes; settings are env vars, see bench/README.md).
.PHONY: load
load: caddy
	bench/run.sh

# The cut profile: 5% of upstream streams cut mid-way, with resume on and off (10,000 streams each).
.PHONY: load-resume
load-resume: caddy
	bench/resume.sh
