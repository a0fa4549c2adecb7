# edge-resize. `make run` serves the fixtures; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
PORT ?= 8080
S3_PORT ?= 5055
FUZZ_SECONDS ?= 60
LOAD_SECONDS ?= 10
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_REGION ?= us-east-1
export AWS_EC2_METADATA_DISABLED := true

export PYTHON := $(CURDIR)/.venv/bin/python

.PHONY: run build deps test test-unit corpus fuzz load bench bench-origin bench-compare bench-derive lint lint-infra fmt package deploy clean

build:
	@scripts/deps.sh --build-only
	$(CARGO) build --release --locked

## nasm (system package) and .venv (moto, Pillow): what `make test` needs beyond cargo.
deps:
	@scripts/deps.sh

## The conformance corpus of tests/corpus.rs (Debian source packages), with reference decodes.
corpus: deps
	scripts/corpus.sh target/corpus

## The main job: the whole edge locally on the bundled fixtures.
run: build
	./target/release/edge-resize serve --dir fixtures --listen 127.0.0.1:$(PORT)

## Every test, with a local S3/CloudFront emulator (moto) started for the run.
test: build deps corpus
	@scripts/with-moto.sh $(S3_PORT) $(CARGO) test --release --locked -- --test-threads=4
	cd infra/edge-bridge && node --test test/
	python3 -m unittest infra/test_template.py

test-unit:
	$(CARGO) test --release --locked --lib

## cargo fuzz (installed if missing): each target for FUZZ_SECONDS, seeded from the fixtures.
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

## wrk against `serve` on 127.0.0.1: single flight, then mixed hits and misses for LOAD_SECONDS.
load: build
	scripts/load.sh $(LOAD_SECONDS)

bench:
	$(CARGO) bench --bench resize --bench pipeline

## origin-response against local S3 (moto): miss, hit, overhead over the transform.
bench-origin: build
	@scripts/with-moto.sh $(S3_PORT) $(CARGO) bench --bench origin

## The same pipeline tasks through sharp (npm), single-threaded, in the same run.
bench-compare: build deps
	scripts/bench-compare.sh

## Derived variants: a small variant from the original and from a larger stored one, on the
## real photos: time, bytes read, SSIMULACRA2 of both.
bench-derive:
	scripts/bench-photos.sh target/bench-photos
	$(CARGO) bench --locked --bench derive

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings
	$(CARGO) clippy --release --locked --lib --no-default-features -- -D warnings

fmt:
	$(CARGO) fmt

## cfn-lint + checkov + the template's IAM tests.
lint-infra:
	scripts/lint-infra.sh

## dist/*.zip for Lambda@Edge (bridge + bootstrap) and the janitor; checks size limits.
package:
	BUCKET=$(BUCKET) scripts/package.sh

## make deploy BUCKET=my-images [ARTIFACTS=...] [STACK=...]; DRY_RUN=1 needs no AWS account.
deploy:
	BUCKET=$(BUCKET) STACK=$(STACK) ARTIFACTS=$(ARTIFACTS) DRY_RUN=$(DRY_RUN) scripts/deploy.sh

clean:
	$(CARGO) clean
	rm -rf dist
