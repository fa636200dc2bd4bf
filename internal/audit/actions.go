package audit

// Actions on API keys recorded in the audit log.
const (
	KeyCreated = "key.created"
	KeyUpdated = "key.updated"
	KeyRevoked = "key.revoked"
	KeyRotated = "key.rotated"
	// KeyDisabled and KeyEnabled pause a key and let it work again.
	KeyDisabled = "key.disabled"
	KeyEnabled  = "key.enabled"
	// KeysImported is keys brought in from a platform's own key system.
	KeysImported = "keys.imported"
	// KeyGraceEnded is an admin ending a rotated key's grace period early.
	KeyGraceEnded = "key.grace_ended"
	// KeyLeaked is a key reported found in public.
	KeyLeaked = "key.leaked"
	// KeyCreditsAdded is an admin topping up a key's credits.
	KeyCreditsAdded = "key.credits_added"
)

// Actions on an organization's quota recorded in the audit log.
const (
	OrgQuotaChanged = "org.quota_changed"
	OrgCreditsAdded = "org.credits_added"
)

// Actions on an organization's members recorded in the audit log.
const (
	MemberRoleChanged = "member.role_changed"
	MemberRemoved     = "member.removed"
	MemberInvited     = "member.invited"
	MemberJoined      = "member.joined"
	InviteRevoked     = "invite.revoked"
	// MemberDisabled and MemberEnabled are an operator disabling or
	// re-enabling a user's account, recorded in each of the user's orgs.
	MemberDisabled = "member.disabled"
	MemberEnabled  = "member.enabled"
)

// Actions on a user's two-factor sign-in, recorded in each of the user's
// organizations.
const (
	TwoFactorEnabled  = "twofactor.enabled"
	TwoFactorDisabled = "twofactor.disabled"
	// TwoFactorReset is an operator turning off a user's two-factor sign-in.
	TwoFactorReset = "twofactor.reset"
	// RecoveryCodeUsed is a sign-in with a recovery code instead of a TOTP
	// code.
	RecoveryCodeUsed         = "twofactor.recovery_code_used"
	RecoveryCodesRegenerated = "twofactor.recovery_codes_regenerated"
)

// OrgSettingsChanged is an admin changing an organization's settings
// (requiring two-factor of its members, the leak policy).
const OrgSettingsChanged = "org.settings_changed"

// Actions on an organization's webhook endpoints recorded in the audit
// log.
const (
	WebhookCreated       = "webhook.created"
	WebhookUpdated       = "webhook.updated"
	WebhookDeleted       = "webhook.deleted"
	WebhookSecretRotated = "webhook.secret_rotated"
	WebhookPaused        = "webhook.paused"
	WebhookResumed       = "webhook.resumed"
)
