#!/usr/bin/env bash
# walkthrough.sh runs every docket verb once, end to end, in a temporary
# directory: a registrar, a rights holder and two ISPs make keys; the
# registrar issues the holder a credential; the holder builds an assertion
# from an observation; ISP A inspects and verifies it, then sees a tampered
# copy and a revoked credential rejected.
#
# Usage: scripts/walkthrough.sh
# Set DOCKET to a docket binary to use it instead of building one (needs go).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }

# expect_reject CODE ARGS... runs docket with ARGS, which must fail with
# error code CODE, and shows its output.
expect_reject() {
	local code=$1 out
	shift
	if out=$("$docket" "$@" 2>&1); then
		printf '%s\n' "$out"
		echo "walkthrough: expected $code, but docket accepted" >&2
		exit 1
	fi
	printf '%s\n' "$out"
	if ! grep -q "^docket: error: $code: " <<<"$out"; then
		echo "walkthrough: expected $code" >&2
		exit 1
	fi
}

# utc OFFSET prints now plus OFFSET (such as "-5 min") in RFC 3339, UTC.
utc() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }

docket=${DOCKET:-}
if [[ -z $docket ]]; then
	step "Build docket"
	(cd "$repo" && go build -o "$work/docket" ./cmd/docket)
	docket=$work/docket
fi
cd "$work"

step "Make keys for a registrar, a rights holder and two ISPs"
mkdir keys
for name in registrar holder isp-a isp-b; do
	echo "$name:"
	"$docket" keygen --out keys --name "$name"
done

step "The registrar issues the holder a credential for one film, for ISPs isp-a and isp-b"
"$docket" credential issue --key keys/registrar.key --subject keys/holder.pub \
	--name "Example Films" --work-id film-1 --title "A Film" \
	--content btih:18f694606783538859b06e8fc2c8bcdbd1a24ec0 \
	--isp isp-a --isp isp-b --valid 720h --out holder.cred.json

step "The holder observed the film's swarm for the last 20 minutes"
sed -e "s/@START@/$(utc '-20 min')/g" -e "s/@FIRST@/$(utc '-18 min')/g" \
	-e "s/@PIECE@/$(utc '-15 min')/g" -e "s/@LAST@/$(utc '-3 min')/g" \
	-e "s/@END@/$(utc '-1 min')/g" \
	"$repo/internal/labdata/observation.json.tmpl" >observation.json
grep -o '"addr": "[^"]*"' observation.json

step "The ISPs' directory: names, regions, age recipients and prefixes"
recipient() { sed -n 's/^# public key: //p' "keys/$1.age"; }
cat >directory.json <<EOF
{
  "isps": [
    {"name": "isp-a", "region": "DE", "recipient": "$(recipient isp-a)",
     "prefixes": ["198.51.100.0/24", "2001:db8:a::/48"]},
    {"name": "isp-b", "region": "NL", "recipient": "$(recipient isp-b)",
     "prefixes": ["203.0.113.0/24"]}
  ]
}
EOF
cat directory.json

step "The holder builds the assertion: one sealed section per ISP"
"$docket" assert build --key keys/holder.key --credential holder.cred.json \
	--observation observation.json --directory directory.json --out assertion.json

step "Anyone can inspect the public part: counts and a commitment, no address"
"$docket" assert inspect assertion.json

step "ISP A opens its own section"
"$docket" assert inspect assertion.json --identity keys/isp-a.age

# The observation's peers are in documentation ranges, which are not global
# unicast. They are laboratory addresses: a real ISP would not permit them.
lab=(--permit-prefix 198.51.100.0/24 --permit-prefix 203.0.113.0/24 --permit-prefix 2001:db8::/32)
verify_a=(verify --chain holder.cred.json --registrar keys/registrar.pub
	--isp isp-a --region DE --identity keys/isp-a.age "${lab[@]}")

step "ISP A verifies the assertion: accepted, with its own peers to act on"
"$docket" "${verify_a[@]}" --assertion assertion.json

step "ISP A verifies a copy whose piece count was changed by one byte"
payload=$(sed -E 's/.*"payload":"([^"]*)".*/\1/' assertion.json)
forged=$(base64 -d <<<"$payload" | sed 's/"piece_count":1024/"piece_count":1025/' | base64 -w0)
sed "s|$payload|$forged|" assertion.json >tampered.json
expect_reject BAD_SIGNATURE "${verify_a[@]}" --assertion tampered.json

step "The registrar revokes the holder's credential"
"$docket" revoke --key keys/registrar.key --credential holder.cred.json \
	--reason "rights transferred" --out revocation.json

step "ISP A verifies the assertion again, knowing the revocation"
expect_reject CREDENTIAL_REVOKED "${verify_a[@]}" --assertion assertion.json --revocation revocation.json

step "Done"
