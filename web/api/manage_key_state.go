package api

import (
	"context"
	"net/http"

	"keyplane/internal/apikey"
	"keyplane/internal/apperr"
	"keyplane/internal/verify"
)

// RevokeKey is POST /api/v1/keys/{id}/revoke: 200 with the revoked key. A
// key cannot revoke itself (409).
func (m *Management) RevokeKey(ctx context.Context, in *KeyInput) (*keyOutput, error) {
	cred := credentialOf(ctx)
	if in.ID == cred.key.ID {
		return nil, NewProblem(CodeConflict, "A key cannot revoke itself; use another key with keys:manage, or the dashboard.")
	}
	return m.answerKey(ctx)(m.keys.Revoke(ctx, cred.key.OrgID, in.ID, cred.actor))
}

// DisableKey is POST /api/v1/keys/{id}/disable: 200 with the disabled key,
// refused with key_disabled everywhere within a second. A key cannot
// disable itself (409).
func (m *Management) DisableKey(ctx context.Context, in *KeyInput) (*keyOutput, error) {
	cred := credentialOf(ctx)
	if in.ID == cred.key.ID {
		return nil, NewProblem(CodeConflict, "A key cannot disable itself; use another key with keys:manage, or the dashboard.")
	}
	return m.answerKey(ctx)(m.keys.Disable(ctx, cred.key.OrgID, in.ID, cred.actor))
}

// EnableKey is POST /api/v1/keys/{id}/enable: 200 with the key, working
// again; 409 key_revoked for a revoked key, which cannot come back.
func (m *Management) EnableKey(ctx context.Context, in *KeyInput) (*keyOutput, error) {
	cred := credentialOf(ctx)
	k, err := m.keys.Enable(ctx, cred.key.OrgID, in.ID, cred.actor)
	if apikey.IsRevoked(err) {
		return nil, NewProblem(verify.CodeRevoked, apperr.MessageOf(err)).WithStatus(http.StatusConflict)
	}
	return m.answerKey(ctx)(k, err)
}

// EndGraceKey is POST /api/v1/keys/{id}/end-grace, where id is the NEW key
// of a rotation: the old key it replaced stops working now. 200 with the
// old key.
func (m *Management) EndGraceKey(ctx context.Context, in *KeyInput) (*keyOutput, error) {
	cred := credentialOf(ctx)
	if old, err := m.keys.Predecessor(ctx, cred.key.OrgID, in.ID); err == nil && old.ID == cred.key.ID {
		return nil, NewProblem(CodeConflict, "A key cannot end its own grace period; use another key with keys:manage, or the dashboard.")
	}
	return m.answerKey(ctx)(m.keys.EndGrace(ctx, cred.key.OrgID, in.ID, cred.actor))
}
