#!/usr/bin/env bash
# install-test-deps.sh installs the Debian packages the tests talk to:
#   age   the reference age CLI, which must open Docket's sealed sections.
#   gobgpd  a BGP router for enforce/flowspec's Flowspec tests.
#   nft, ip  nftables and iproute2, for enforce/nft's network-namespace tests.
#   transmission-daemon  a BitTorrent seeder for node/observe's tests.
# It installs only what is missing, as root directly or through sudo.
set -euo pipefail

packages=()
command -v age >/dev/null || packages+=(age)
command -v nft >/dev/null || packages+=(nftables)
command -v ip >/dev/null || packages+=(iproute2)
command -v gobgpd >/dev/null || packages+=(gobgpd)
command -v transmission-daemon >/dev/null || packages+=(transmission-daemon)

if ((${#packages[@]} == 0)); then
	exit 0
fi
echo "install-test-deps: installing ${packages[*]}"
if [[ $(id -u) -eq 0 ]]; then
	apt_get=(apt-get)
elif command -v sudo >/dev/null; then
	apt_get=(sudo apt-get)
else
	echo "install-test-deps: error: need root or sudo to install ${packages[*]}" >&2
	echo "install-test-deps: hint: apt-get install ${packages[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${packages[@]}"
