package audit

// Actions on API keys recorded in the audit log.
const (
	KeyCreated = "key.created"
	KeyUpdated = "key.updated"
	KeyRevoked = "key.revoked"
	KeyRotated = "key.rotated"
)
