package audit

// Actions on a key's restrictions recorded in the audit log: one
// restriction switched to enforce or to report only, and the key
// restricted to what its traffic used (see apikey.Service.Restrict).
const (
	KeyRestrictionEnforced   = "key.restriction_enforced"
	KeyRestrictionReportOnly = "key.restriction_report_only"
	KeyRestricted            = "key.restricted"
)
