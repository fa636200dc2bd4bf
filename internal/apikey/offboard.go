package apikey

import (
	"context"
	"fmt"
)

// SeenBy returns the keys of orgID whose secret userID was shown (the
// keys they created, and the successors of the keys they rotated: a
// rotation creates its new key in the rotating person's name) and which can
// still be rotated: not revoked, expired or already rotated. Newest first.
// For offboarding: these are the keys to rotate when userID leaves.
func (s *Service) SeenBy(ctx context.Context, orgID, userID string) ([]Key, error) {
	now := s.now().UTC()
	var list []Key
	err := s.db.Conn(ctx).Where("org_id = ? AND created_by_id = ? AND revoked_at IS NULL AND replaced_by_id IS NULL", orgID, userID).
		Order("created_at DESC, id DESC").Find(&list).Error
	if err != nil {
		return nil, fmt.Errorf("apikey: keys seen by: %w", err)
	}
	out := list[:0]
	for _, k := range list {
		if CanRotate(k, now) == nil {
			out = append(out, k)
		}
	}
	return out, nil
}
