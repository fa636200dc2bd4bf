// Package offboard removes a member from an organization and, in the same
// step, rotates the API keys whose secrets they were shown.
package offboard

import (
	"context"
	"fmt"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/audit"
	"keyplane/internal/org"
)

// Service offboards members.
type Service struct {
	orgs *org.Service
	keys *apikey.Service
}

// New returns an offboarding service over the organizations and keys.
func New(orgs *org.Service, keys *apikey.Service) *Service {
	return &Service{orgs: orgs, keys: keys}
}

// Request is what an admin asks when removing a member.
type Request struct {
	// Rotate are the ids of the keys to rotate, among those the member
	// created or rotated (apikey.Service.SeenBy); others are reported as
	// failed.
	Rotate []string
	// Grace is how long each old key keeps working ("0", "1h", "24h" or
	// "168h"); needed only when Rotate is not empty.
	Grace string
	// FormToken makes the request single-use, as for rotating one key:
	// each key's rotation uses it with the key's id appended.
	FormToken string
}

// MaxRotate bounds the keys one removal rotates.
const MaxRotate = 1000

// Rotated is one key rotated while offboarding: the old key as it now
// is, and the new one with its secret, to be shown once.
type Rotated struct {
	Old apikey.Key
	New apikey.Created
}

// Failed is a key that was to be rotated and was not, and why.
type Failed struct {
	ID     string
	Hint   string // "" when the id names no key of the organization
	Desc   string
	Reason string
	// Err is the rotation's error, for the log; nil when the key was not
	// one the member was shown.
	Err error
}

// Result is what a removal did.
type Result struct {
	Member  org.MemberRow
	Rotated []Rotated
	Failed  []Failed
}

// Remove takes userID out of orgID, then rotates the keys of r.Rotate, each
// on its own: a rotation that fails (a key revoked meanwhile) leaves the
// member removed and is listed in Failed with the reason; once the member
// is removed no error is returned, so the new keys are always shown. The
// rotations are recorded in the audit log by actor, like the removal.
// Admins only: the caller checks the role. Returns Invalid naming grace
// for a bad grace period when keys are to be rotated, or rotate for more
// than MaxRotate keys (nothing changes); NotFound when userID is not a
// member; Conflict for the organization's last admin.
func (s *Service) Remove(ctx context.Context, orgID, userID string, r Request, actor audit.Actor) (Result, error) {
	if len(r.Rotate) > MaxRotate {
		return Result{}, apperr.InvalidFields(map[string]string{"rotate": fmt.Sprintf("Rotate at most %d keys at once.", MaxRotate)})
	}
	if len(r.Rotate) > 0 {
		if _, ok := apikey.GracePeriods[r.Grace]; !ok {
			return Result{}, apperr.InvalidFields(map[string]string{"grace": "Choose when the old keys stop working."})
		}
	}
	row, err := s.orgs.RemoveMember(ctx, orgID, userID, actor)
	if err != nil {
		return Result{}, err
	}
	out := Result{Member: row}
	done := map[string]bool{}
	for _, id := range r.Rotate {
		if done[id] {
			continue
		}
		done[id] = true
		k, err := s.keys.Get(ctx, orgID, id)
		if err != nil {
			reason := "There is no such key in this organization."
			if !apperr.Is(err, apperr.NotFound) {
				reason = apperr.MessageOf(err)
			}
			out.Failed = append(out.Failed, Failed{ID: id, Reason: reason, Err: err})
			continue
		}
		if k.CreatedByID == nil || *k.CreatedByID != userID {
			out.Failed = append(out.Failed, Failed{ID: id, Hint: k.Hint, Desc: k.Description,
				Reason: "This is not a key " + row.Email + " created or rotated."})
			continue
		}
		token := ""
		if r.FormToken != "" {
			token = r.FormToken + ":" + k.ID
		}
		created, old, err := s.keys.RotateWith(ctx, orgID, k.ID, apikey.Rotation{Grace: r.Grace, FormToken: token}, actor)
		if err != nil {
			// Even a failure of the database is reported with the others:
			// the keys already rotated must still be shown.
			out.Failed = append(out.Failed, Failed{ID: k.ID, Hint: k.Hint, Desc: k.Description, Reason: apperr.MessageOf(err), Err: err})
			continue
		}
		out.Rotated = append(out.Rotated, Rotated{Old: old, New: created})
	}
	return out, nil
}
