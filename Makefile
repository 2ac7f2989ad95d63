# tether — the two commands a new user needs are `make demo` and `make test`.
GO ?= go
FUZZTIME ?= 30s

.PHONY: demo test deps build vet fuzz bench

## demo: run the load balancer in front of three demo targets on loopback
demo:
	$(GO) run ./cmd/tether demo

## test: install what the tests need (Chromium), then run every test with the race detector
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

deps:
	bash scripts/test-deps.sh

## build: build bin/tether
build:
	$(GO) build -o bin/tether ./cmd/tether

## fuzz: run every fuzz target for FUZZTIME and keep the inputs it found in testdata/fuzz
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## bench: tether side by side with HAProxy, NGINX and Caddy on loopback
bench:
	bash bench/run.sh
