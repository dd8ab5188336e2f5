package isp

import (
	"context"
	"errors"
	"fmt"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/protocol"
)

// ErrUnknownCredential is returned by Revoke for a revocation of a
// credential the store does not hold, given without its chain.
var ErrUnknownCredential = errors.New("unknown credential")

// Revocation is what Revoke did.
type Revocation struct {
	// ID is the revocation's id.
	ID protocol.ID
	// Credential is the id of the revoked credential.
	Credential protocol.ID
	// AlreadyRevoked is true if the credential was revoked before; nothing
	// changed then.
	AlreadyRevoked bool
	// Assertions is the number of assertions under the credential whose
	// enforcement ended.
	Assertions int
	// Withdrawn is the number of pairs withdrawn; Shortened the number of
	// pairs still enforced by another assertion, whose expiry became that
	// assertion's.
	Withdrawn, Shortened int
}

// Revoke verifies a revocation (spec/SPEC.md §7.3) and applies it: the
// credential is revoked for every later assertion (CREDENTIAL_REVOKED),
// and the pairs of the assertions made under it are withdrawn. A pair that
// another assertion, under another chain, also enforces stays until that
// assertion's expiry.
//
// The revocation is checked against the chain of the revoked credential
// as the store holds it, from an assertion applied under it; chain, the
// credential envelopes root first, is needed only for a credential the
// store does not hold (ErrUnknownCredential otherwise). A revocation that
// does not verify is a *protocol.Error. Revocations need no log
// inclusion: they only lift enforcement.
func (p *Pipeline) Revoke(ctx context.Context, envelope []byte, chain [][]byte) (*Revocation, error) {
	sr, err := protocol.DecodeRevocation(envelope)
	if err != nil {
		return nil, err
	}
	cred := sr.Revocation.Credential
	res := &Revocation{ID: sr.ID, Credential: cred}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()

	c, err := p.storedChain(cred)
	if err != nil {
		return nil, p.revokeFailed(cred, err)
	}
	if p.revoked(cred) {
		res.AlreadyRevoked = true
		return res, nil
	}
	// Credentials verified here, to keep beside those from assertions.
	verified := map[protocol.ID][]byte{}
	if c == nil {
		if len(chain) == 0 {
			return nil, fmt.Errorf("failed to revoke %s: %w: the store holds no chain for it; give its chain", cred, ErrUnknownCredential)
		}
		if c, err = p.verifier.VerifyChain(chain, now); err != nil {
			return nil, err
		}
		for i, sc := range c.Links {
			verified[sc.ID] = chain[i]
		}
	}
	if _, err := p.verifier.VerifyRevocation(envelope, c); err != nil {
		return nil, err
	}

	// The assertions under the credential, their pairs, and the expiry
	// each pair keeps from the other assertions that enforce it.
	var ended []protocol.ID
	var withdraw []enforce.Key
	var shorten []enforce.Pair
	err = p.store.View(func(tx *store.Tx) error {
		ended = tx.EnforcementsUnder(cred)
		affected := map[enforce.Key]bool{}
		for _, id := range ended {
			e, err := tx.Enforcement(id)
			if err != nil {
				return err
			}
			for _, k := range e.Pairs {
				affected[k] = true
			}
		}
		endedSet := map[protocol.ID]bool{}
		for _, id := range ended {
			endedSet[id] = true
		}
		kept := map[enforce.Key]enforce.Pair{}
		err := tx.ForEachEnforcement(func(e *store.Enforcement) error {
			if endedSet[e.Assertion] || !e.Expires.After(now) {
				return nil
			}
			for _, k := range e.Pairs {
				if affected[k] && e.Expires.After(kept[k].Expires) {
					kept[k] = enforce.Pair{Key: k, Expires: e.Expires}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k := range affected {
			current, installed := tx.Pair(k)
			switch other, ok := kept[k]; {
			case !installed:
			case !ok:
				withdraw = append(withdraw, k)
			case other.Expires.Before(current):
				shorten = append(shorten, other)
			}
		}
		return nil
	})
	if err != nil {
		return nil, p.revokeFailed(cred, err)
	}

	// Withdraw, then put back the shortened pairs with their new expiry:
	// a backend's Add only ever extends an expiry.
	remove := withdraw
	for _, pr := range shorten {
		remove = append(remove, pr.Key)
	}
	if len(remove) > 0 {
		if err := p.backend.Remove(ctx, remove); err != nil {
			return nil, p.revokeFailed(cred, p.recoverBackend(ctx, fmt.Errorf("failed to withdraw %d pairs: %w", len(remove), err)))
		}
	}
	if len(shorten) > 0 {
		if err := p.backend.Add(ctx, shorten); err != nil {
			return nil, p.revokeFailed(cred, p.recoverBackend(ctx, fmt.Errorf("failed to re-install %d pairs: %w", len(shorten), err)))
		}
	}
	err = p.store.Update(func(tx *store.Tx) error {
		if err := tx.PutRevocation(cred, envelope); err != nil {
			return err
		}
		for id, env := range verified {
			if err := tx.PutCredential(id, env); err != nil {
				return err
			}
		}
		for _, id := range ended {
			if err := tx.DeleteEnforcement(id); err != nil {
				return err
			}
		}
		if err := tx.RemovePairs(withdraw); err != nil {
			return err
		}
		for _, pr := range shorten {
			if err := tx.SetPair(pr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, p.revokeFailed(cred, p.recoverBackend(ctx, fmt.Errorf("failed to commit revocation: %w", err)))
	}
	res.Assertions, res.Withdrawn, res.Shortened = len(ended), len(withdraw), len(shorten)
	p.count(func(s *Stats) { s.Revocations++; s.PairsWithdrawn += uint64(len(withdraw)) })
	p.log.Info("credential revoked", "credential", cred, "revocation", sr.ID,
		"assertions", res.Assertions, "withdrawn", res.Withdrawn, "shortened", res.Shortened)
	return res, nil
}

// storedChain returns the chain of a credential the store holds, ending
// in it: the credential and, for a delegation, its parent. It returns nil
// if the store does not hold the credential or its parent. Stored
// credentials verified as part of a chain when they were stored.
func (p *Pipeline) storedChain(cred protocol.ID) (*protocol.Chain, error) {
	var links []*protocol.SignedCredential
	err := p.store.View(func(tx *store.Tx) error {
		for id := cred; id != "" && len(links) < protocol.MaxChainLength; {
			env := tx.Credential(id)
			if env == nil {
				links = nil
				return nil
			}
			sc, err := protocol.DecodeCredential(env)
			if err != nil {
				return fmt.Errorf("failed to decode stored credential %s: %w", id, err)
			}
			links = append([]*protocol.SignedCredential{sc}, links...)
			id = sc.Credential.Parent
		}
		return nil
	})
	if err != nil || links == nil {
		return nil, err
	}
	return &protocol.Chain{Links: links}, nil
}

// revokeFailed counts and logs a failure to apply a revocation.
func (p *Pipeline) revokeFailed(cred protocol.ID, err error) error {
	p.count(func(s *Stats) { s.Failures++ })
	p.log.Error("failed to apply revocation", "credential", cred, "err", err)
	return err
}
