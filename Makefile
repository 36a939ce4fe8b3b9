# tagifai: spec-first model server for the TagIfAI text classifier.

DATA      ?= ../shared/data
ARTIFACTS ?= artifacts
ADDR      ?= :8000
SEED      ?= 42
GO        ?= go

.PHONY: all build run test train evaluate generate check-generated vet fmt bench clean

all: build

## build: compile the tagifai binary into ./bin/tagifai
build:
	$(GO) build -trimpath -o bin/tagifai .

## run: serve the committed model on $(ADDR)
run: build
	./bin/tagifai serve --artifacts $(ARTIFACTS) --addr $(ADDR)

## test: vet and run every test (race detector on)
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## train: train the model from $(DATA) into $(ARTIFACTS)
train:
	$(GO) run . train --data $(DATA)/dataset.csv --holdout $(DATA)/holdout.csv --out $(ARTIFACTS) --seed $(SEED)

## evaluate: score the committed model on the holdout set
evaluate:
	$(GO) run . evaluate --artifacts $(ARTIFACTS) --data $(DATA)/holdout.csv

clean:
	rm -rf bin
