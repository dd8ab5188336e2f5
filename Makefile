# The two commands a newcomer runs (see README.md):
#   make devnet   builds docket and runs a whole federation and a real swarm on this machine
#   make test     installs what the tests need, then runs every check CI runs
# CI (.ci/run) runs exactly these two, in this order. Also:
#   make demo     the walkthrough of every docket verb on files (scripts/walkthrough.sh)

.PHONY: devnet demo test build generate

devnet: build
	bin/docket devnet

demo:
	bash scripts/walkthrough.sh

test:
	bash scripts/test.sh

build:
	go build -o bin/docket ./cmd/docket

generate:
	go generate ./spec/...
