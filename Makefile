# Keyplane developer and CI entry points. `make test` is what CI runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
# `make test` runs its steps in the order listed, even under -j.
.NOTPARALLEL:

ARGS ?= serve
CHROMIUM_PATH ?= /usr/bin/chromium
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
export CHROMIUM_PATH TEST_DATABASE_URL TEST_REDIS_URL
# Playwright drives the system Chromium; never let an install fetch a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

STAMP := node_modules/.stamp

# Prints the generated files that are committed (or would be): templ output
# (tracked, or untracked but not ignored) and the built static assets.
BUILT_ASSETS := static/app.css static/htmx.min.js static/swagger-ui-bundle.js static/swagger-ui.css
GENERATED := { git ls-files -- '*_templ.go' $(BUILT_ASSETS); \
	git ls-files --others --exclude-standard -- '*_templ.go'; \
	printf '%s\n' $(BUILT_ASSETS); } | sort -u

.PHONY: run generate deps tools check-generated vet test-go test-e2e test build bench faults screenshots clean

run:
	go run ./cmd/keyplane $(ARGS)

build: generate
	go build -o bin/keyplane ./cmd/keyplane

generate: deps
	go tool templ generate -log-level warn
	npm run --silent build

deps: $(STAMP)

# Not `npm ci`: the registry has no darwin/win32/wasm builds of
# @tailwindcss/oxide 4.3.5, so the lockfile lacks those optional entries and
# `npm ci` rejects it as out of sync. `npm install --no-save` installs exactly
# what the lockfile pins and never rewrites it.
$(STAMP): package-lock.json | tools
	npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

tools:
	@command -v go >/dev/null || { echo "go not found: install Go $$(sed -n 's/^go //p' go.mod) or newer (apt-get install -y golang-go, or the official tarball)"; exit 1; }
	@command -v node >/dev/null || { echo "node not found: install Node.js 20 or newer (apt-get install -y nodejs npm)"; exit 1; }
	@command -v npm >/dev/null || { echo "npm not found: install npm (apt-get install -y npm)"; exit 1; }

# Compares generated files before and after regenerating them (not against
# HEAD), so it works in a clean clone and in a tree with uncommitted edits.
check-generated: deps
	@snapshot() { $(GENERATED) | while read -r f; do \
		if [ -f "$$f" ]; then sha256sum "$$f"; else echo "absent  $$f"; fi; done; }; \
	before=$$(snapshot); \
	$(MAKE) --no-print-directory generate; \
	after=$$(snapshot); \
	changed=$$({ diff <(echo "$$before") <(echo "$$after") || true; } | sed -n 's/^[<>] [^ ]*  //p' | sort -u | paste -sd ' ' -); \
	if [ -n "$$changed" ]; then \
		echo "generated files were stale and have been regenerated: $$changed; commit them"; exit 1; \
	fi

vet:
	go vet ./...
	@unformatted=$$(git ls-files --cached --others --exclude-standard -- '*.go' ':!:*_templ.go' \
		| while read -r f; do [ ! -f "$$f" ] || echo "$$f"; done | xargs -r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l reports unformatted files (run gofmt -w):"; echo "$$unformatted"; exit 1; fi

test-go:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx not found: apt-get install -y nginx"; exit 1; }
	@command -v caddy >/dev/null || [ -x /usr/bin/caddy ] || { echo "caddy not found: apt-get install -y caddy"; exit 1; }
	@if command -v pg_isready >/dev/null; then \
		hostport=$$(echo "$$TEST_DATABASE_URL" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]*).*#\2#'); \
		host=$${hostport%%:*}; port=5432; [ "$$hostport" = "$$host" ] || port=$${hostport##*:}; \
		pg_isready -q -t 5 -h "$$host" -p "$$port" || { \
			echo "PostgreSQL is not reachable at $$host:$$port; start it with: pg_ctlcluster --skip-systemctl-redirect \$$(ls /etc/postgresql) main start (or set TEST_DATABASE_URL)"; exit 1; }; \
	fi
	go test -count=1 ./...

test-e2e: deps
	@[ -x "$(CHROMIUM_PATH)" ] || { echo "Chromium not found at $(CHROMIUM_PATH): apt-get install -y chromium"; exit 1; }
	npm run --silent test:e2e

test: deps check-generated vet test-go test-e2e

# Go benchmarks (short, one package at a time so they do not share the
# cores), then the data plane against its targets: cmd/bench (flags through
# BENCH_ARGS, e.g. BENCH_ARGS='-pg off').
bench:
	go test -p 1 -run '^$$' -bench . -benchmem -benchtime 300ms ./...
	go run ./cmd/bench $(BENCH_ARGS)

# The fault suite (also part of test-go): TCP proxies refuse, blackhole or
# freeze the connections to PostgreSQL and Redis; each test prints its
# figures. The whole output is kept in tmp/faults.log.
FAULT_TESTS := Fault|UnderFaults|UnderBlackhole|Readyz|DatabaseDownAndBack|Spill|Shutdown|FinalFlush
faults:
	@mkdir -p tmp
	@echo "fault suite: go test -run '$(FAULT_TESTS)' (full output in tmp/faults.log)"
	@go test -count=1 -v -run '$(FAULT_TESTS)' ./internal/... ./web/ ./cmd/keyplane/ 2>&1 | tee tmp/faults.log \
		| grep -E '^(--- FAIL|FAIL|ok )|figure:' | sed -E 's/^ +[a-z_]+_test\.go:[0-9]+: //'

# Full-page PNGs of every screen at 1280 and 390 px, light and dark, from a
# fresh server with the demo organization: tmp/screenshots/ (not part of
# `make test`). SCREENSHOTS_PORT moves the server (default 18680).
screenshots: build
	@[ -x "$(CHROMIUM_PATH)" ] || { echo "Chromium not found at $(CHROMIUM_PATH): apt-get install -y chromium"; exit 1; }
	node web/e2e/screenshots.mjs

clean:
	rm -rf bin tmp web/e2e/test-results
