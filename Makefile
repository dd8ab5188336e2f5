# The two commands a newcomer runs (see README.md):
#   make demo   runs the walkthrough of every docket verb on embedded defaults
#   make test   installs what the tests need, then runs every check CI runs

.PHONY: demo test build generate

demo:
	bash scripts/walkthrough.sh

test:
	bash scripts/test.sh

build:
	go build -o bin/docket ./cmd/docket

generate:
	go generate ./spec/...
