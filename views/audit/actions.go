package audit

// actionWords say what each recorded action is, for people; filters and
// the CSV export keep the codes.
var actionWords = map[string]string{
	"login.succeeded":                      "Signed in",
	"login.failed":                         "Sign-in failed",
	"reauth.failed":                        "Password check failed",
	"org.created":                          "Organization created",
	"org.disabled":                         "Organization disabled",
	"org.enabled":                          "Organization enabled",
	"org.settings_changed":                 "Settings changed",
	"member.added":                         "Member added",
	"member.invited":                       "Member invited",
	"member.joined":                        "Member joined",
	"member.role_changed":                  "Role changed",
	"member.removed":                       "Member removed",
	"member.disabled":                      "Account disabled",
	"member.enabled":                       "Account enabled",
	"invite.revoked":                       "Invitation revoked",
	"key.created":                          "Key created",
	"key.updated":                          "Key changed",
	"key.revoked":                          "Key revoked",
	"key.rotated":                          "Key rotated",
	"key.grace_ended":                      "Old key stopped early",
	"key.disabled":                         "Key disabled",
	"key.enabled":                          "Key enabled",
	"key.leaked":                           "Key found in public",
	"key.credits_added":                    "Credits added to a key",
	"org.quota_changed":                    "Organization quota changed",
	"org.credits_added":                    "Credits added to the organization",
	"keys.imported":                        "Keys imported",
	"key.restriction_enforced":             "Restriction enforced",
	"key.restriction_report_only":          "Restriction set to report only",
	"key.restricted":                       "Restricted to its traffic",
	"webhook.created":                      "Webhook added",
	"webhook.updated":                      "Webhook changed",
	"webhook.deleted":                      "Webhook deleted",
	"webhook.secret_rotated":               "Webhook secret rotated",
	"webhook.paused":                       "Webhook paused",
	"webhook.resumed":                      "Webhook resumed",
	"twofactor.enabled":                    "Two-factor turned on",
	"twofactor.disabled":                   "Two-factor turned off",
	"twofactor.reset":                      "Two-factor reset by the operator",
	"twofactor.recovery_code_used":         "Recovery code used",
	"twofactor.recovery_codes_regenerated": "New recovery codes",
}

// ActionText is an action in words: "Signed in" for login.succeeded; an
// unknown code is shown as it is.
func ActionText(code string) string {
	if w, ok := actionWords[code]; ok {
		return w
	}
	return code
}
