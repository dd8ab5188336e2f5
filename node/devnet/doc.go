// Package devnet runs a whole Docket federation on one machine: the
// federation's roles (registrar, log, witness, claimant, two ISPs) as
// separate `docket node` processes, and a real BitTorrent swarm for the
// claimant's observer to map: an HTTP tracker, seeders that each listen
// and dial from an address of their own (loopback 127.0.0.x, or addresses
// in network namespaces when isp-one enforces with nftables), a joe-job
// address listed at the tracker where no BitTorrent peer answers, and a
// plain TCP server standing for that address's real owner. It drives the
// flow from credential to enforced pairs, receipts and an audit, and
// reports what each part did.
package devnet
