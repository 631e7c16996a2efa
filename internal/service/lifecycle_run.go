package service

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// Lifecycle triggers, as `kiln lifecycle run` and the periodic loop start
// a policy.
const (
	lifecycleManual    = "manual"
	lifecycleScheduled = "scheduled"
)

// RunLifecyclePolicy runs one of the account's lifecycle policies now, as
// `kiln lifecycle run` asks, and returns what it did; with dryRun it only
// says what a run would do, and records nothing. A DISABLED policy runs
// too when asked by name. Another execution of the policy in progress is
// ResourceInUseException.
func (s *Service) RunLifecyclePolicy(ctx context.Context, account, policy string, dryRun bool) (LifecycleRun, error) {
	a, err := s.parseNamedARN("lifecyclePolicyArn", policy, kindLifecyclePolicy)
	if err != nil {
		return LifecycleRun{}, err
	}
	return s.runLifecyclePolicy(ctx, account, a, dryRun, lifecycleManual, 0)
}

func (s *Service) runLifecyclePolicy(ctx context.Context, account string, a arn.ARN, dryRun bool, trigger string, interval time.Duration) (LifecycleRun, error) {
	out := LifecycleRun{LifecyclePolicyArn: a.String(), DryRun: dryRun, Resources: []LifecycleResource{}}
	var (
		e       lifecycleExecution
		started bool
	)
	run := func(tx store.Tx) error {
		started = false
		out.Resources = out.Resources[:0]
		now := s.now()
		r, err := s.ownedResource(ctx, tx, account, a, "Lifecycle Policy")
		if err != nil {
			return err
		}
		p, err := decodeLifecyclePolicy(r)
		if err != nil {
			return err
		}
		if trigger == lifecycleScheduled {
			if p.Status != awsapi.LifecyclePolicyStatusEnabled || now.Before(lifecycleNextRun(p, interval)) {
				return nil // not due: another process ran it, or it changed
			}
		}
		images, err := s.lifecycleCandidates(ctx, tx, account, p)
		if err != nil {
			return err
		}
		actions := planLifecycle(p, images, now)
		if dryRun {
			for _, act := range actions {
				list, err := s.lifecycleResources(ctx, tx, act, now)
				if err != nil {
					return err
				}
				for _, lr := range list {
					if lr.State.Status == awsapi.LifecycleExecutionResourceStatusInProgress {
						lr.State = nil
					}
					out.Resources = append(out.Resources, lr)
				}
			}
			return nil
		}
		p.DateLastRun = lifecycleTimestamp(now)
		p.Tags = nil
		doc, err := json.Marshal(p)
		if err != nil {
			return err
		}
		prev := r.Doc
		r.Doc = doc
		if err := tx.Replace(ctx, r, prev); err != nil {
			return err
		}
		e, err = s.beginLifecycle(ctx, tx, account, a.String(), lifecycleExecution{
			LifecycleExecution: awsapi.LifecycleExecution{LifecyclePolicyArn: a.String()},
			Actions:            actions,
		}, now)
		if err != nil {
			var apiErr *awsapi.Error
			if trigger == lifecycleScheduled && errors.As(err, &apiErr) && apiErr.Code == awsapi.ErrCodeResourceInUseException {
				// Its own run is still going: this due run is skipped,
				// and the claim (dateLastRun) stands.
				s.logInfo("lifecycle: a policy came due while its execution was still in progress; skipped", "policy", a.String(), "err", err)
				return nil
			}
			return err
		}
		started = true
		return nil
	}
	if dryRun {
		err := s.view(ctx, run)
		return out, err
	}
	if err := s.update(ctx, run); err != nil {
		return out, err
	}
	if !started {
		return out, nil
	}
	e, err := s.performLifecycle(context.WithoutCancel(ctx), account, e.LifecycleExecutionId)
	if err != nil {
		return out, err
	}
	out.LifecycleExecutionId, out.State = e.LifecycleExecutionId, e.State
	out.Resources, err = s.lifecycleResourceList(ctx, account, e.LifecycleExecutionId)
	return out, err
}

func (s *Service) logInfo(msg string, args ...any) {
	if s.Log != nil {
		s.Log.Info(msg, args...)
	}
}

// lifecycleResourceList reads every resource of an execution, in order.
func (s *Service) lifecycleResourceList(ctx context.Context, account, id string) ([]LifecycleResource, error) {
	var out []LifecycleResource
	err := s.view(ctx, func(tx store.Tx) (err error) {
		out, err = s.executionResources(ctx, tx, account, id)
		return err
	})
	if out == nil {
		out = []LifecycleResource{}
	}
	return out, err
}

// lifecycleNextRun is when a policy next comes due for the periodic run:
// interval after its last run, or after its creation when it never ran.
func lifecycleNextRun(p awsapi.LifecyclePolicy, interval time.Duration) time.Time {
	base := p.DateCreated
	if p.DateLastRun != nil {
		base = p.DateLastRun
	}
	if base == nil {
		return time.Time{}
	}
	return base.Time.Add(interval)
}

// LifecycleDue lists what the periodic lifecycle loop has to do and when:
// every ENABLED policy (by ARN) interval after its last run, and every
// PENDING state update (by execution ID) at its updateAt. A time may be in
// the past: not claimed yet.
func (s *Service) LifecycleDue(ctx context.Context, interval time.Duration) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.view(ctx, func(tx store.Tx) error {
		rows, err := tx.List(ctx, store.Query{Kind: kindLifecyclePolicy, Region: s.Region,
			Where: []store.Cond{store.Eq(store.DocField("status"), awsapi.LifecyclePolicyStatusEnabled)}})
		if err != nil {
			return err
		}
		for _, r := range rows {
			p, err := decodeLifecyclePolicy(r)
			if err != nil {
				return err
			}
			out[r.ARN] = lifecycleNextRun(p, interval)
		}
		rows, err = tx.List(ctx, store.Query{Kind: KindLifecycleExecution, Region: s.Region,
			Where: []store.Cond{store.Eq(store.DocField("state", "status"), awsapi.LifecycleExecutionStatusPending)}})
		if err != nil {
			return err
		}
		for _, r := range rows {
			e, err := decodeLifecycleExecution(r)
			if err != nil {
				return err
			}
			out[e.LifecycleExecutionId] = e.DueAt
		}
		return nil
	})
	return out, err
}

// errLifecycleRaced is FireLifecycle's answer when another node claimed
// the pending state update between its read and its write.
var errLifecycleRaced = errors.New("the lifecycle execution was claimed by another node")

// FireLifecycle claims and carries out one item of LifecycleDue: a
// policy's periodic run (its dateLastRun, rewritten in the transaction
// that starts the execution, is the claim, so several kiln processes on
// one store run it once) or a pending state update (claimed by leaving
// PENDING). An item no longer due does nothing.
func (s *Service) FireLifecycle(ctx context.Context, key string, interval time.Duration) error {
	if !strings.HasPrefix(key, "lce-") {
		a, err := arn.Parse(key)
		if err != nil {
			return err
		}
		run, err := s.runLifecyclePolicy(ctx, a.Account, a, false, lifecycleScheduled, interval)
		if err == nil && run.LifecycleExecutionId != "" {
			s.logInfo("lifecycle: policy run", "policy", key, "execution", run.LifecycleExecutionId, "status", run.State.Status, "resources", len(run.Resources))
		}
		return err
	}
	var (
		account string
		claimed bool
	)
	err := s.update(ctx, func(tx store.Tx) error {
		claimed = false
		now := s.now()
		r, err := tx.Get(ctx, lifecycleExecutionKey(key))
		if err != nil {
			return err
		}
		e, err := decodeLifecycleExecution(r)
		if err != nil {
			return err
		}
		if e.status() != awsapi.LifecycleExecutionStatusPending || e.DueAt.After(now) {
			return nil
		}
		account, claimed = r.Account, true
		e.State = &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusInProgress}
		e.Heartbeat = now
		// The claim is a compare-and-set on the PENDING record as read,
		// so of two nodes that read it one claims it, on any isolation.
		doc, err := json.Marshal(e)
		if err != nil {
			return err
		}
		prev := r.Doc
		r.Doc, r.Updated = doc, now
		if err := tx.Replace(ctx, r, prev); err != nil {
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				claimed = false
				return errLifecycleRaced
			}
			return err
		}
		return s.recordLifecycleResources(ctx, tx, r.Account, e, now)
	})
	if errors.Is(err, errLifecycleRaced) {
		return nil // another node claimed it, and carries it out
	}
	if err != nil || !claimed {
		return err
	}
	_, err = s.performLifecycle(ctx, account, key)
	return err
}
